#!/usr/bin/env bash
# Generate telvox's default prompt sets (voice/en, voice/zh, voice/ko) with espeak-ng and sox:
# the line-test prompts, the example IVR flow's prompts and the `say-*` fragments src/apps/say.rs strings together to say
# numbers, amounts of money, dates and times.
#
# Output per prompt: 8000 Hz, mono, A-law WAV (format tag 6), leading/trailing
# silence trimmed to ~30 ms, peak-normalised to -6 dBFS. Each language also gets
# a manifest, voice/<lang>/prompts.txt, with one `name<TAB>text` line per prompt.
#
# Re-runnable: every prompt is rebuilt in a scratch directory and only then moved
# into place, so an interrupted run never leaves a half-written WAV behind.
# Deterministic: espeak-ng output is a pure function of text, voice and speed for
# a given espeak-ng version; sox runs with -R (fixed seeds) and -D (no dither).
#
# Usage: voice/generate.sh            (run from anywhere)
set -euo pipefail

# The prompts live next to this script, whatever the caller's working directory.
VOICE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Telephony prompts are spoken a little slower than espeak-ng's default of 175
# words per minute so that they survive an 8 kHz A-law line. Mandarin keeps the
# default: its syllables are already long and the prompts must stay under 6 s.
EN_VOICE="en-us"
EN_SPEED_WPM=150
# Not plain `cmn`: in espeak-ng 1.51 that voice turns most characters into
# tone-numbered pinyin and then reads the pinyin as English ("零" comes out as
# "ling two"; espeak-ng issues #1236, #1370). `cmn-latn-pinyin` reads the same
# pinyin as Mandarin, and still switches to English for Latin words ("telvox").
ZH_VOICE="cmn-latn-pinyin"
ZH_SPEED_WPM=175
# Korean syllables are short and dense; a little slower than the default keeps
# numbers like 천이백오 distinct on an 8 kHz line.
KO_VOICE="ko"
KO_SPEED_WPM=160

# Silence trimming: audio counts as silence below this level. 0.5% (-46 dBFS)
# is above espeak-ng's noise floor and below its quietest consonants.
SILENCE_THRESHOLD="0.5%"
# A burst must last this long to count as speech, so clicks are not kept.
SILENCE_MIN_S="0.02"
# Silence kept (padded) at each end, so the first phoneme is not clipped when a
# prompt is started right after a tone or another prompt.
EDGE_PAD_S="0.03"
# Peak level: -6 dBFS leaves head-room for the mixer and matches tone levels.
PEAK_DBFS="-6"

die() {
    echo "generate.sh: $*" >&2
    exit 1
}

need_tools() {
    command -v espeak-ng >/dev/null || die "espeak-ng not found — install it: apt-get install espeak-ng"
    command -v sox >/dev/null || die "sox not found — install it: apt-get install sox"
    # espeak-ng lists voices with their language code in the second column.
    local voices
    voices="$(espeak-ng --voices | awk '{print $2}')"
    grep -qx "$ZH_VOICE" <<<"$voices" \
        || die "espeak-ng has no '$ZH_VOICE' (Mandarin) voice — install espeak-ng-data"
    grep -qx "$KO_VOICE" <<<"$voices" \
        || die "espeak-ng has no '$KO_VOICE' (Korean) voice — install espeak-ng-data"
}

# print_list PREFIX FIRST WORD...: one `PREFIX<n><TAB>WORD` line per word, n
# counting up from FIRST. Used for the numbered fragment families below.
print_list() {
    local prefix="$1" n="$2"
    shift 2
    local word
    for word in "$@"; do
        printf '%s%d\t%s\n' "$prefix" "$n" "$word"
        n=$((n + 1))
    done
}

# One `name<TAB>text` line per prompt; the order is the manifest's order.
prompts_en() {
    printf '%s\t%s\n' \
        welcome "Welcome to the telvox line test." \
        please-enter "Please enter some digits, then press the pound key." \
        you-entered "You entered" \
        digit-0 "zero" \
        digit-1 "one" \
        digit-2 "two" \
        digit-3 "three" \
        digit-4 "four" \
        digit-5 "five" \
        digit-6 "six" \
        digit-7 "seven" \
        digit-8 "eight" \
        digit-9 "nine" \
        star "star" \
        pound "pound" \
        goodbye "Goodbye." \
        invalid "That entry is not valid." \
        timeout "We did not receive your entry."
}

prompts_zh() {
    printf '%s\t%s\n' \
        welcome "欢迎使用 telvox 线路测试。" \
        please-enter "请输入几位数字，然后按井号键。" \
        you-entered "您输入的是" \
        digit-0 "零" \
        digit-1 "一" \
        digit-2 "二" \
        digit-3 "三" \
        digit-4 "四" \
        digit-5 "五" \
        digit-6 "六" \
        digit-7 "七" \
        digit-8 "八" \
        digit-9 "九" \
        star "星号" \
        pound "井号" \
        goodbye "再见。" \
        invalid "输入无效。" \
        timeout "我们没有收到您的输入。"
}

prompts_ko() {
    printf '%s\t%s\n' \
        welcome "텔복스 회선 시험에 오신 것을 환영합니다." \
        please-enter "숫자를 입력하신 후 우물정자를 눌러 주십시오." \
        you-entered "입력하신 번호는" \
        digit-0 "공" \
        digit-1 "일" \
        digit-2 "이" \
        digit-3 "삼" \
        digit-4 "사" \
        digit-5 "오" \
        digit-6 "육" \
        digit-7 "칠" \
        digit-8 "팔" \
        digit-9 "구" \
        star "별표" \
        pound "우물정자" \
        goodbye "안녕히 계십시오." \
        invalid "입력이 올바르지 않습니다." \
        timeout "입력이 확인되지 않았습니다."
}

# The `say-*` fragments src/apps/say.rs strings together (its required_prompts()
# is the authoritative list; tests/say.rs checks every name has a file). Each
# fragment is one word, so the same file serves every number it appears in.
say_prompts_en() {
    print_list say- 0 zero one two three four five six seven eight nine ten \
        eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen
    printf 'say-%d\t%s\n' 20 twenty 30 thirty 40 forty 50 fifty 60 sixty 70 seventy \
        80 eighty 90 ninety
    printf '%s\t%s\n' \
        say-hundred "hundred" \
        say-thousand "thousand" \
        say-million "million" \
        say-billion "billion" \
        say-minus "minus" \
        say-dollar "dollar" \
        say-dollars "dollars" \
        say-cent "cent" \
        say-cents "cents" \
        say-and "and" \
        say-am "A.M." \
        say-pm "P.M." \
        say-oclock "o'clock" \
        say-o "oh" \
        say-star "star" \
        say-pound "pound"
    print_list say-month- 1 January February March April May June July August September \
        October November December
    # 0 = Sunday, as in say.rs (and C's tm_wday).
    print_list say-day- 0 Sunday Monday Tuesday Wednesday Thursday Friday Saturday
    print_list say-ord- 1 first second third fourth fifth sixth seventh eighth ninth tenth \
        eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth \
        nineteenth twentieth twenty-first twenty-second twenty-third twenty-fourth \
        twenty-fifth twenty-sixth twenty-seventh twenty-eighth twenty-ninth thirtieth \
        thirty-first
}

say_prompts_zh() {
    print_list say- 0 零 一 二 三 四 五 六 七 八 九 十
    printf '%s\t%s\n' \
        say-liang "两" \
        say-yao "幺" \
        say-bai "百" \
        say-qian "千" \
        say-wan "万" \
        say-yi "亿" \
        say-fu "负" \
        say-yuan "元" \
        say-jiao "角" \
        say-fen "分" \
        say-zheng "整" \
        say-nian "年" \
        say-yue "月" \
        say-ri "日" \
        say-shangwu "上午" \
        say-xiawu "下午" \
        say-dian "点" \
        say-star "星号" \
        say-pound "井号"
    print_list say-day- 0 星期日 星期一 星期二 星期三 星期四 星期五 星期六
}

say_prompts_ko() {
    printf '%s\t%s\n' say-0 "영" say-gong "공"
    print_list say- 1 일 이 삼 사 오 육 칠 팔 구
    printf '%s\t%s\n' \
        say-sip "십" \
        say-baek "백" \
        say-cheon "천" \
        say-man "만" \
        say-eok "억" \
        say-maineoseu "마이너스" \
        say-won "원" \
        say-jeon "전" \
        say-nyeon "년" \
        say-il-date "일" \
        say-ojeon "오전" \
        say-ohu "오후" \
        say-si "시" \
        say-bun "분" \
        say-star "별표" \
        say-pound "우물정자"
    # Whole words, because 6월 and 10월 are 유월 and 시월, not 육월 and 십월.
    print_list say-month- 1 일월 이월 삼월 사월 오월 유월 칠월 팔월 구월 시월 십일월 십이월
    print_list say-day- 0 일요일 월요일 화요일 수요일 목요일 금요일 토요일
    # Hours take the native Korean numerals (한 시, 두 시 … 열두 시), not 일 이 삼.
    print_list say-hour- 1 한 두 세 네 다섯 여섯 일곱 여덟 아홉 열 열한 열두
}

# The shipped example IVR flow's prompts (etc/flows/main.toml). `choose-language` is the same
# bilingual sentence in every set: it is played before the caller has picked a language.
ivr_prompts_en() {
    printf '%s\t%s\n' \
        choose-language "For Mandarin, press one. For English, press two." \
        hotline-welcome "Welcome to the telvox customer service line." \
        main-menu "For your account balance, press one. To receive a fax, press two. To leave a message, press three. To speak to an operator, press zero." \
        enter-account "Please enter your account number, then press the pound key." \
        account-number-is "Your account number is" \
        coming-soon "This service is coming soon." \
        office-closed "Our office is closed. Please call again during business hours." \
        enter-pin "Please enter your PIN, then press the pound key." \
        wrong-pin "That PIN is not correct." \
        account-locked "This account is locked. Please contact your branch." \
        balance-is "Your balance is" \
        service-unavailable "This service is not available at the moment."
}

ivr_prompts_zh() {
    printf '%s\t%s\n' \
        choose-language "普通话请按一。For English, press two." \
        hotline-welcome "欢迎致电 telvox 客户服务热线。" \
        main-menu "查询账户余额请按一，索取传真请按二，留言请按三，人工服务请按零。" \
        enter-account "请输入您的账号，然后按井号键。" \
        account-number-is "您的账号是" \
        coming-soon "此项服务即将推出。" \
        office-closed "我们现在已下班，请在营业时间内再来电。" \
        enter-pin "请输入您的密码，然后按井号键。" \
        wrong-pin "密码不正确。" \
        account-locked "此账户已被锁定，请联系您的开户网点。" \
        balance-is "您的余额是" \
        service-unavailable "此项服务暂时无法使用。"
}

ivr_prompts_ko() {
    printf '%s\t%s\n' \
        choose-language "중국어는 일번, 영어는 이번을 눌러 주십시오." \
        hotline-welcome "텔복스 고객 센터에 전화해 주셔서 감사합니다." \
        main-menu "잔액 조회는 일번, 팩스 수신은 이번, 메시지 남기기는 삼번, 상담원 연결은 영번을 눌러 주십시오." \
        enter-account "계좌 번호를 입력하신 후 우물정자를 눌러 주십시오." \
        account-number-is "입력하신 계좌 번호는" \
        coming-soon "이 서비스는 곧 제공될 예정입니다." \
        office-closed "지금은 업무 시간이 아닙니다. 업무 시간에 다시 전화해 주십시오." \
        enter-pin "비밀번호를 입력하신 후 우물정자를 눌러 주십시오." \
        wrong-pin "비밀번호가 올바르지 않습니다." \
        account-locked "이 계좌는 잠겼습니다. 거래 지점에 문의해 주십시오." \
        balance-is "고객님의 잔액은" \
        service-unavailable "지금은 이 서비스를 이용하실 수 없습니다."
}

# Voicemail (src/apps/voicemail: voicemail_leave, voicemail_check; its PROMPTS list is
# authoritative). `@beep` is not speech: the tone before recording (see render).
vm_prompts_en() {
    printf '%s\t%s\n' \
        vm-beep "@beep" \
        vm-person-at "The person at extension" \
        vm-unavailable "is not available." \
        vm-busy "is on the phone." \
        vm-leave-after-tone "Please leave your message after the tone. When you are done, hang up or press the pound key." \
        vm-mailbox-full "Sorry, this mailbox is full and cannot take any more messages." \
        vm-no-mailbox "There is no such mailbox." \
        vm-too-short "Your message was too short and was not saved." \
        vm-message-saved-thanks "Your message has been saved. Thank you." \
        vm-review "To listen to your message, press one. To save it, press two. To record it again, press three." \
        vm-enter-box "Please enter your mailbox number, then press the pound key." \
        vm-enter-password "Please enter your password, then press the pound key." \
        vm-login-incorrect "Login incorrect." \
        vm-locked "This mailbox is locked. Please try again later." \
        vm-you-have "You have" \
        vm-new "new" \
        vm-saved "saved" \
        vm-messages "messages" \
        vm-message "message" \
        vm-and "and" \
        vm-no-messages "You have no messages." \
        vm-message-from "Message from" \
        vm-received "received" \
        vm-main-menu "To hear your messages, press one. For mailbox options, press zero. To exit, press the pound key." \
        vm-msg-menu "To replay, press one. To save, press two. For the next message, press three. For the previous message, press four. To delete, press seven. To forward, press eight. To call back, press nine. For help, press star. To skip, press the pound key." \
        vm-message-saved "Message saved." \
        vm-message-deleted "Message deleted." \
        vm-no-more "There are no more messages." \
        vm-enter-forward "Enter the mailbox number to forward to, then press the pound key." \
        vm-forwarded "Message forwarded." \
        vm-callback-soon "Calling back is not available yet." \
        vm-options "To record your unavailable greeting, press one. To record your busy greeting, press two. To record your name, press three. To change your password, press four. To go back, press star." \
        vm-record-after-tone "Record after the tone, then press the pound key." \
        vm-greeting-saved "Your greeting has been saved." \
        vm-new-password "Please enter your new password, then press the pound key." \
        vm-password-changed "Your password has been changed."
}

vm_prompts_zh() {
    printf '%s\t%s\n' \
        vm-beep "@beep" \
        vm-person-at "您拨打的分机" \
        vm-unavailable "暂时无人接听。" \
        vm-busy "正在通话中。" \
        vm-leave-after-tone "请在提示音后留言，留言完毕请挂机或按井号键。" \
        vm-mailbox-full "对不起，此信箱已满，无法再接收留言。" \
        vm-no-mailbox "没有这个信箱。" \
        vm-too-short "您的留言太短，没有保存。" \
        vm-message-saved-thanks "您的留言已保存，谢谢。" \
        vm-review "试听留言请按一，保存请按二，重新录制请按三。" \
        vm-enter-box "请输入您的信箱号码，然后按井号键。" \
        vm-enter-password "请输入您的密码，然后按井号键。" \
        vm-login-incorrect "登录不正确。" \
        vm-locked "此信箱已被锁定，请稍后再试。" \
        vm-you-have "您有" \
        vm-new "条新留言" \
        vm-saved "条已保存的留言" \
        vm-messages "留言" \
        vm-message "留言" \
        vm-and "和" \
        vm-no-messages "您没有留言。" \
        vm-message-from "留言来自" \
        vm-received "留言时间" \
        vm-main-menu "收听留言请按一，信箱设置请按零，退出请按井号键。" \
        vm-msg-menu "重听请按一，保存请按二，下一条请按三，上一条请按四，删除请按七，转发请按八，回拨请按九，帮助请按星号键，跳过请按井号键。" \
        vm-message-saved "留言已保存。" \
        vm-message-deleted "留言已删除。" \
        vm-no-more "没有更多留言了。" \
        vm-enter-forward "请输入要转发到的信箱号码，然后按井号键。" \
        vm-forwarded "留言已转发。" \
        vm-callback-soon "回拨功能暂不可用。" \
        vm-options "录制无人接听问候语请按一，录制忙线问候语请按二，录制姓名请按三，修改密码请按四，返回请按星号键。" \
        vm-record-after-tone "请在提示音后录音，完毕后按井号键。" \
        vm-greeting-saved "问候语已保存。" \
        vm-new-password "请输入新密码，然后按井号键。" \
        vm-password-changed "密码已修改。"
}

# Korean word order: 새 메시지 N 건, 그리고 저장된 메시지 M 건 있습니다 (see service.rs summary).
vm_prompts_ko() {
    printf '%s\t%s\n' \
        vm-beep "@beep" \
        vm-person-at "내선 번호" \
        vm-unavailable "사용자는 지금 전화를 받을 수 없습니다." \
        vm-busy "사용자는 지금 통화 중입니다." \
        vm-leave-after-tone "삐 소리가 나면 메시지를 남겨 주십시오. 끝나시면 전화를 끊거나 우물정자를 눌러 주십시오." \
        vm-mailbox-full "죄송합니다. 이 사서함은 가득 차서 메시지를 더 받을 수 없습니다." \
        vm-no-mailbox "그런 사서함은 없습니다." \
        vm-too-short "메시지가 너무 짧아 저장되지 않았습니다." \
        vm-message-saved-thanks "메시지가 저장되었습니다. 감사합니다." \
        vm-review "메시지를 들으시려면 일번, 저장하시려면 이번, 다시 녹음하시려면 삼번을 눌러 주십시오." \
        vm-enter-box "사서함 번호를 입력하신 후 우물정자를 눌러 주십시오." \
        vm-enter-password "비밀번호를 입력하신 후 우물정자를 눌러 주십시오." \
        vm-login-incorrect "로그인 정보가 올바르지 않습니다." \
        vm-locked "이 사서함은 잠겼습니다. 나중에 다시 시도해 주십시오." \
        vm-you-have "있습니다." \
        vm-new "새 메시지" \
        vm-saved "저장된 메시지" \
        vm-messages "건" \
        vm-message "건" \
        vm-and "그리고" \
        vm-no-messages "메시지가 없습니다." \
        vm-message-from "보낸 사람" \
        vm-received "받은 시간" \
        vm-main-menu "메시지를 들으시려면 일번, 사서함 설정은 영번, 끝내시려면 우물정자를 눌러 주십시오." \
        vm-msg-menu "다시 듣기 일번, 저장 이번, 다음 메시지 삼번, 이전 메시지 사번, 삭제 칠번, 전달 팔번, 회신 전화 구번, 도움말 별표, 건너뛰기는 우물정자를 눌러 주십시오." \
        vm-message-saved "메시지가 저장되었습니다." \
        vm-message-deleted "메시지가 삭제되었습니다." \
        vm-no-more "더 이상 메시지가 없습니다." \
        vm-enter-forward "전달할 사서함 번호를 입력하신 후 우물정자를 눌러 주십시오." \
        vm-forwarded "메시지가 전달되었습니다." \
        vm-callback-soon "회신 전화 기능은 아직 제공되지 않습니다." \
        vm-options "부재중 인사말 녹음은 일번, 통화중 인사말 녹음은 이번, 이름 녹음은 삼번, 비밀번호 변경은 사번, 돌아가시려면 별표를 눌러 주십시오." \
        vm-record-after-tone "삐 소리가 나면 녹음하시고 끝나면 우물정자를 눌러 주십시오." \
        vm-greeting-saved "인사말이 저장되었습니다." \
        vm-new-password "새 비밀번호를 입력하신 후 우물정자를 눌러 주십시오." \
        vm-password-changed "비밀번호가 변경되었습니다."
}

# The fax-on-demand prompts of the shipped flow (etc/flows/main.toml, state `fax`).
fax_prompts_en() {
    printf '%s\t%s\n' \
        fax-enter-document "Please enter the number of the document you want, then press the pound key." \
        fax-delivery-menu "To receive it on this call, press one. To have it sent to another fax number, press two." \
        fax-press-start "Please press the start button on your fax machine now." \
        fax-invalid-document "There is no document with that number." \
        fax-enter-number "Please enter the fax number, including the area code, then press the pound key." \
        fax-queued "Thank you. Your fax will be sent to that number shortly." \
        fax-failed "Sorry, the fax could not be sent."
}

fax_prompts_zh() {
    printf '%s\t%s\n' \
        fax-enter-document "请输入您需要的文件编号，然后按井号键。" \
        fax-delivery-menu "在本次通话中接收请按一，发送到其他传真号码请按二。" \
        fax-press-start "请现在按下传真机上的开始键。" \
        fax-invalid-document "没有这个编号的文件。" \
        fax-enter-number "请输入传真号码，包括区号，然后按井号键。" \
        fax-queued "谢谢。您的传真将很快发送到该号码。" \
        fax-failed "抱歉，传真发送失败。"
}

fax_prompts_ko() {
    printf '%s\t%s\n' \
        fax-enter-document "원하시는 문서 번호를 입력하신 후 우물정자를 눌러 주십시오." \
        fax-delivery-menu "이 통화로 받으시려면 일번, 다른 팩스 번호로 받으시려면 이번을 눌러 주십시오." \
        fax-press-start "지금 팩스기의 시작 버튼을 눌러 주십시오." \
        fax-invalid-document "해당 번호의 문서가 없습니다." \
        fax-enter-number "지역 번호를 포함한 팩스 번호를 입력하신 후 우물정자를 눌러 주십시오." \
        fax-queued "감사합니다. 잠시 후 해당 번호로 팩스가 발송됩니다." \
        fax-failed "죄송합니다. 팩스를 보내지 못했습니다."
}

# Supervisor playback of call recordings (src/apps/supervisor: recording_review; its PROMPTS
# list is authoritative). English and Mandarin only.
sup_prompts_en() {
    printf '%s\t%s\n' \
        sup-welcome "Recording review. Press the star key to sign in." \
        sup-enter-id "Please enter your supervisor number, then press the pound key." \
        sup-search-menu "To find recordings by agent, press one. By caller number, press two. To finish, press the pound key." \
        sup-enter-number "Enter the number, then press the pound key." \
        sup-enter-date "Enter the date as year, month and day, or zero for today, then press the pound key." \
        sup-recordings "recordings" \
        sup-no-recordings "There are no recordings." \
        sup-seconds "seconds" \
        sup-no-more "There are no more recordings." \
        sup-unavailable "This recording is unavailable." \
        sup-player-menu "To replay, press one. Next, three. Previous, four. Forward ten seconds, six. Back ten seconds, nine. For the search menu, press the pound key."
}

sup_prompts_zh() {
    printf '%s\t%s\n' \
        sup-welcome "录音查听。请按星号键登录。" \
        sup-enter-id "请输入您的主管工号，然后按井号键。" \
        sup-search-menu "按坐席查找录音请按一，按来电号码查找请按二，结束请按井号键。" \
        sup-enter-number "请输入号码，然后按井号键。" \
        sup-enter-date "请输入年月日，今天请按零，然后按井号键。" \
        sup-recordings "条录音" \
        sup-no-recordings "没有录音。" \
        sup-seconds "秒" \
        sup-no-more "没有更多录音了。" \
        sup-unavailable "此录音无法播放。" \
        sup-player-menu "重听请按一，下一条请按三，上一条请按四，快进十秒请按六，后退十秒请按九，返回查找菜单请按井号键。"
}

# render VOICE SPEED TEXT OUT: speak TEXT and convert it to a telvox prompt.
render() {
    local voice="$1" speed_wpm="$2" text="$3" out="$4"
    local raw="$out.raw.wav"
    if [ "$text" = "@beep" ]; then
        # The tone before recording: 1 kHz for 250 ms at -9 dBFS, the same in every language.
        sox -R -D -n -r 8000 -c 1 -e a-law -b 8 -t wav "$out" synth 0.25 sine 1000 gain -9 \
            pad "$EDGE_PAD_S" "$EDGE_PAD_S"
        return
    fi
    espeak-ng -v "$voice" -s "$speed_wpm" -w "$raw" -- "$text"
    # Effects in order: trim the front, trim the back (reverse, trim, reverse),
    # lower the level 3 dB so the resampler's filter overshoot cannot clip
    # espeak-ng's near-full-scale peaks, resample after trimming (less work),
    # normalise after resampling (the filter changes the peak), then pad so the
    # pad stays digital zero.
    sox -R -D "$raw" -r 8000 -c 1 -e a-law -b 8 -t wav "$out" \
        silence 1 "$SILENCE_MIN_S" "$SILENCE_THRESHOLD" \
        reverse silence 1 "$SILENCE_MIN_S" "$SILENCE_THRESHOLD" reverse \
        gain -3 rate -h 8000 \
        norm "$PEAK_DBFS" \
        pad "$EDGE_PAD_S" "$EDGE_PAD_S"
    rm -f "$raw"
}

# generate_lang LANG VOICE SPEED LISTFN...: build voice/LANG from the lists the
# LISTFNs print, in order (the line-test prompts, then the say-* fragments).
generate_lang() {
    local lang="$1" voice="$2" speed_wpm="$3"
    shift 3
    local dest="$VOICE_DIR/$lang"
    local scratch="$SCRATCH_DIR/$lang"
    mkdir -p "$scratch"

    local list_fn
    for list_fn in "$@"; do
        "$list_fn"
    done >"$scratch/prompts.txt"
    local name text
    while IFS=$'\t' read -r name text; do
        render "$voice" "$speed_wpm" "$text" "$scratch/$name.wav"
    done <"$scratch/prompts.txt"

    # Move into place only after every prompt rendered. Files in $dest that are
    # not generated prompts (a site's own recordings) are left alone.
    mkdir -p "$dest"
    mv -f "$scratch"/*.wav "$scratch/prompts.txt" "$dest/"
    echo "voice/$lang: $(wc -l <"$dest/prompts.txt") prompts"
}

main() {
    need_tools
    # Scratch space on the same filesystem as voice/, so the final mv is a
    # rename; removed however the script exits.
    SCRATCH_DIR="$(mktemp -d "$VOICE_DIR/.generate.XXXXXX")"
    trap 'rm -rf "$SCRATCH_DIR"' EXIT
    generate_lang en "$EN_VOICE" "$EN_SPEED_WPM" prompts_en say_prompts_en ivr_prompts_en vm_prompts_en fax_prompts_en sup_prompts_en
    generate_lang zh "$ZH_VOICE" "$ZH_SPEED_WPM" prompts_zh say_prompts_zh ivr_prompts_zh vm_prompts_zh fax_prompts_zh sup_prompts_zh
    generate_lang ko "$KO_VOICE" "$KO_SPEED_WPM" prompts_ko say_prompts_ko ivr_prompts_ko vm_prompts_ko fax_prompts_ko
}

main "$@"
