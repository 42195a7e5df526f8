/* The DAHDI header's own view of the ABI telvox uses: request numbers and struct sizes, for the ABI
 * test in sys.rs (which compares them with what nix's ioctl macros compute). Built by build.rs. */
#include <dahdi/user.h>

unsigned long telvox_dahdi_request(int which) {
    switch (which) {
    case 0: return DAHDI_SPECIFY;
    case 1: return DAHDI_SET_BLOCKSIZE;
    case 2: return DAHDI_GET_PARAMS;
    case 3: return DAHDI_SET_BUFINFO;
    case 4: return DAHDI_GETEVENT;
    case 5: return DAHDI_HOOK;
    case 6: return DAHDI_DIAL;
    case 7: return DAHDI_SETTXBITS;
    case 8: return DAHDI_GETRXBITS;
    case 9: return DAHDI_SETGAINS;
    case 10: return DAHDI_ECHOCANCEL_PARAMS;
    case 11: return DAHDI_SPANSTAT;
    case 12: return DAHDI_FLUSH;
    case 13: return DAHDI_BUFFER_EVENTS;
    default: return 0;
    }
}

unsigned long telvox_dahdi_sizeof(int which) {
    switch (which) {
    case 0: return sizeof(struct dahdi_params);
    case 1: return sizeof(struct dahdi_bufferinfo);
    case 2: return sizeof(struct dahdi_gains);
    case 3: return sizeof(struct dahdi_spaninfo);
    case 4: return sizeof(struct dahdi_echocanparams);
    case 5: return sizeof(struct dahdi_echocanparam);
    case 6: return sizeof(struct dahdi_dialoperation);
    default: return 0;
    }
}

/* Constants telvox mirrors in Rust (event codes, hook ops, sigtypes, alarms, laws, policies). */
long telvox_dahdi_const(int which) {
    switch (which) {
    case 0: return DAHDI_EVENT_ONHOOK;
    case 1: return DAHDI_EVENT_RINGOFFHOOK;
    case 2: return DAHDI_EVENT_WINKFLASH;
    case 3: return DAHDI_EVENT_ALARM;
    case 4: return DAHDI_EVENT_NOALARM;
    case 5: return DAHDI_EVENT_DIALCOMPLETE;
    case 6: return DAHDI_EVENT_RINGERON;
    case 7: return DAHDI_EVENT_RINGEROFF;
    case 8: return DAHDI_EVENT_HOOKCOMPLETE;
    case 9: return DAHDI_EVENT_BITSCHANGED;
    case 10: return DAHDI_EVENT_POLARITY;
    case 11: return DAHDI_EVENT_RINGBEGIN;
    case 12: return DAHDI_ONHOOK;
    case 13: return DAHDI_OFFHOOK;
    case 14: return DAHDI_WINK;
    case 15: return DAHDI_FLASH;
    case 16: return DAHDI_START;
    case 17: return DAHDI_RING;
    case 18: return DAHDI_RINGOFF;
    case 19: return DAHDI_SIG_FXSLS;
    case 20: return DAHDI_SIG_FXSKS;
    case 21: return DAHDI_SIG_FXOLS;
    case 22: return DAHDI_SIG_FXOKS;
    case 23: return DAHDI_SIG_EM;
    case 24: return DAHDI_SIG_CLEAR;
    case 25: return DAHDI_SIG_CAS;
    case 26: return DAHDI_ALARM_LOOPBACK;
    case 27: return DAHDI_ALARM_YELLOW;
    case 28: return DAHDI_ALARM_RED;
    case 29: return DAHDI_ALARM_BLUE;
    case 30: return DAHDI_ALARM_NOTOPEN;
    case 31: return DAHDI_LAW_MULAW;
    case 32: return DAHDI_LAW_ALAW;
    case 33: return DAHDI_POLICY_IMMEDIATE;
    case 34: return DAHDI_POLICY_WHEN_FULL;
    case 35: return DAHDI_POLICY_HALF_FULL;
    case 36: return DAHDI_DIAL_OP_REPLACE;
    case 37: return ELAST;
    case 38: return DAHDI_SIG_FXSGS;
    case 39: return DAHDI_SIG_FXOGS;
    case 40: return DAHDI_SIG_HDLCFCS;
    case 41: return DAHDI_FLUSH_BOTH;
    case 42: return DAHDI_SIG_EM_E1;
    case 43: return DAHDI_EVENT_REMOVED;
    case 44: return DAHDI_EVENT_READ_OVERRUN;
    case 45: return DAHDI_EVENT_WRITE_UNDERRUN;
    default: return -1;
    }
}
