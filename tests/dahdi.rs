//! The DAHDI backend without a driver: `telvox hw scan` from a /proc/dahdi fixture writes a map that
//! telvox's own validation accepts, and a daemon told to drive DAHDI where there is none refuses to
//! start with a message saying what to do. (The real driver is exercised by tests/dahdi-vm.)

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestDaemon, BIN, REPO};

fn fixture() -> std::path::PathBuf {
    Path::new(REPO).join("tests/fixtures/proc-dahdi")
}

#[test]
fn hw_scan_proposes_a_map_that_config_check_accepts() {
    let daemon = TestDaemon::prepare(|c| format!("hw = \"scanned.toml\"\n{c}"));
    let out = daemon.dir.path().join("scanned.toml");
    let scan = Command::new(BIN)
        .args(["hw", "scan", "--proc"])
        .arg(fixture())
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run hw scan");
    assert!(scan.status.success(), "{}", String::from_utf8_lossy(&scan.stderr));
    let map = std::fs::read_to_string(&out).expect("the map was written");
    assert!(
        !daemon.dir.path().join(".scanned.toml.tmp").exists(),
        "written through a temporary name"
    );
    // The analog card: FXO ports (fxsks trunks) 1-4 and FXS ports (fxoks extensions) 5-6; 7-8 are
    // empty module slots and are left out.
    assert!(
        map.contains(
            "dahdi_span = 1\nlaw = \"alaw\"\nchannels = 6\nrole = \"trunk\"\nsignalling = \"fxsks\""
        ),
        "{map}"
    );
    assert!(
        map.contains("[[span.group]]\nchannels = \"5-6\"\nsignalling = \"fxoks\""),
        "{map}"
    );
    // The E1: clear channels with the D-channel on timeslot 16 left alone; the alarm is noted.
    assert!(
        map.contains("# DAHDI span 2: TE4/0/1, 31 channel(s) (in alarm when scanned)"),
        "{map}"
    );
    assert!(
        map.contains("channels = 31\nrole = \"trunk\"\nsignalling = \"clear\""),
        "{map}"
    );
    assert!(map.contains("channels = \"16\"\nunused = true"), "{map}");

    let check = Command::new(BIN)
        .args(["config", "check"])
        .arg(&daemon.config)
        .output()
        .expect("run config check");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        check.status.success(),
        "config check refused the scanned map:\n{said}\n{map}"
    );

    // Without --out the same map goes to stdout.
    let stdout = Command::new(BIN)
        .args(["hw", "scan", "--proc"])
        .arg(fixture())
        .output()
        .expect("run hw scan");
    assert!(stdout.status.success());
    let printed = String::from_utf8_lossy(&stdout.stdout);
    assert!(printed.contains("card = \"dahdi\""), "{printed}");
}

#[test]
fn hw_scan_without_a_driver_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let scan = Command::new(BIN)
        .args(["hw", "scan", "--dev"])
        .arg(dir.path())
        .output()
        .expect("run hw scan");
    assert!(!scan.status.success());
    let err = String::from_utf8_lossy(&scan.stderr);
    assert!(err.contains("is the DAHDI driver loaded"), "{err}");
}

#[test]
fn a_dahdi_daemon_without_the_driver_refuses_to_start_with_the_reason() {
    let daemon = TestDaemon::prepare(|c| format!("hw = \"site.toml\"\n{c}"));
    std::fs::write(
        daemon.dir.path().join("site.toml"),
        "card = \"dahdi\"\n[[span]]\nname = \"trunks\"\nlaw = \"alaw\"\nchannels = 4\nrole = \"trunk\"\n\
         signalling = \"fxsks\"\nnumbers = [\"_X.\"]\n",
    )
    .unwrap();
    let nodev = daemon.dir.path().join("no-dahdi");
    let out = Command::new(BIN)
        .args(["daemon", "--foreground", "--config"])
        .arg(&daemon.config)
        .env("TELVOX_DAHDI_DEV", &nodev)
        .output()
        .expect("run the daemon");
    assert!(!out.status.success(), "started without DAHDI");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot open {}/ctl", nodev.display())) && err.contains("dahdi_cfg"),
        "{err}"
    );
}

/// Each example map in hw/ loads, and matches its vendor/ system.conf: the channels that system.conf
/// gives DAHDI, checked the way telvox checks a map against the driver at start.
#[test]
fn example_maps_load_and_match_their_system_conf() {
    use telvox::hw::dahdi::card::{check_map, DriverChan, DriverSpan};
    use telvox::hw::dahdi::events::sigtype_from_proc;
    let pairs = [
        ("analog-4fxo-4fxs.toml", "analog-4fxo-4fxs.system.conf", 8),
        ("e1-clear.toml", "e1-clear.system.conf", 30),
        ("e1-cas.toml", "e1-cas.system.conf", 30),
        ("t1-em-wink.toml", "t1-em.system.conf", 24),
    ];
    for (map_name, conf_name, opened) in pairs {
        let daemon = TestDaemon::prepare(|c| format!("hw = \"{REPO}/hw/{map_name}\"\n{c}"));
        let config = telvox::config::load_file(&daemon.config).unwrap_or_else(|e| panic!("{map_name}: {e}"));
        // system.conf's channel lines: `<sig>=<ranges>[:<idle bits>]`, channels numbered from 1.
        let conf = std::fs::read_to_string(Path::new(REPO).join("vendor/dahdi").join(conf_name)).unwrap();
        let mut channels: Vec<DriverChan> = Vec::new();
        for line in conf.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let sigtype = match key {
                "bchan" => sigtype_from_proc("Clear"),
                "dchan" => sigtype_from_proc("HDLCFCS"),
                "cas" => sigtype_from_proc("CAS"),
                other => sigtype_from_proc(other),
            };
            let Some(sigtype) = sigtype else { continue };
            let ranges = value.split(':').next().unwrap();
            for range in ranges.split(',') {
                let (first, last) = range.split_once('-').unwrap_or((range, range));
                for chan in first.parse::<u16>().unwrap()..=last.parse::<u16>().unwrap() {
                    channels.push(DriverChan {
                        channo: i32::from(chan),
                        chanpos: chan,
                        sigtype,
                        name: format!("X/{chan}"),
                        curlaw: 0,
                    });
                }
            }
        }
        channels.sort_by_key(|c| c.chanpos);
        let driver = [DriverSpan {
            spanno: 1,
            name: "X".into(),
            desc: String::new(),
            alarms: 0,
            spantype: String::new(),
            channels,
        }];
        let setups = check_map(&config.hw, &driver).unwrap_or_else(|p| panic!("{map_name}: {p:#?}"));
        assert_eq!(setups.len(), opened, "{map_name}");
    }
}
