"""Every word the room's screens say, in Turkish and English.

Turkish labels follow the e-conference participant guide the meetings are modelled on
("Ses Hakları Verildi", "Söz Hakkı İste", "Sohbet", "Herkes", "Anket", "Dosyalar").
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.provisioning.words import fill
from appliance.screen.model import Language, Notice

LANGUAGES: tuple[Language, ...] = ("tr", "en")

# Notices shown top right; keys are what the app pushes into the NoticeQueue.
NOTICES: Mapping[str, Mapping[Language, str]] = {
    "audio_granted": {"tr": "Ses Hakları Verildi", "en": "Audio rights granted"},
    "audio_revoked": {"tr": "Ses hakları geri alındı", "en": "Audio rights withdrawn"},
    "camera_granted": {"tr": "Kamera Hakkı Verildi", "en": "Camera rights granted"},
    "camera_granted_press": {"tr": "Kamera Hakkı Verildi — kamera düğmesiyle açın",
                             "en": "Camera rights granted — press the camera button"},
    "camera_revoked": {"tr": "Kamera hakkı geri alındı", "en": "Camera rights withdrawn"},
    "muted_by_host": {"tr": "Sesiniz yönetici tarafından kapatıldı",
                      "en": "Muted by the host"},
    "hand_lowered_by_host": {"tr": "Söz isteğiniz yönetici tarafından indirildi",
                             "en": "Hand lowered by the host"},
    "hand_raised": {"tr": "Söz Hakkı İstendi", "en": "Hand raised"},
    "hand_lowered": {"tr": "Söz isteği geri çekildi", "en": "Hand lowered"},
    "need_audio_right": {"tr": "Konuşmak için Söz Hakkı İste düğmesine basın",
                         "en": "Press Raise hand to ask to speak"},
    "need_camera_right": {"tr": "Kamera için yöneticinin izni gerekli",
                          "en": "The camera needs the host's permission"},
    "poll_opened": {"tr": "Yeni anket: {question}", "en": "New poll: {question}"},
    "chat_private": {"tr": "{sender} size özel yazdı", "en": "{sender} wrote to this room"},
    "file_shared": {"tr": "Yeni dosya: {name}", "en": "New file: {name}"},
    "connection_poor": {"tr": "Bağlantı zayıf", "en": "Poor connection"},
    # The room state machine's own notices (appliance.room.Notice).
    "joined": {"tr": "Toplantıya katıldınız", "en": "Joined the meeting"},
    "rejoined": {"tr": "Toplantıya yeniden bağlanıldı", "en": "Back in the meeting"},
    "waiting_in_lobby": {"tr": "Yöneticinin odaya almasını bekliyor",
                         "en": "Waiting for the host to admit this room"},
    "connection_lost": {"tr": "Bağlantı koptu, yeniden bağlanılıyor",
                        "en": "Connection lost, reconnecting"},
    "removed_by_host": {"tr": "Yönetici bu odayı toplantıdan çıkardı",
                        "en": "The host removed this room from the meeting"},
    "left_meeting": {"tr": "Toplantıdan ayrıldınız", "en": "Left the meeting"},
    "meeting_ended": {"tr": "Toplantı sona erdi", "en": "The meeting has ended"},
    "unmuted_by_host": {"tr": "Mikrofonunuz açılabilir", "en": "You may unmute"},
    "mic_muted": {"tr": "Mikrofon kapatıldı", "en": "Microphone muted"},
    "mic_unmuted": {"tr": "Mikrofon açık", "en": "Microphone on"},
    "camera_started": {"tr": "Görüntü paylaşılıyor", "en": "Sharing video"},
    "camera_stopped": {"tr": "Görüntü paylaşımı durdu", "en": "Video stopped"},
    "camera_failed": {"tr": "Kamera çalışmıyor — yalnız ses", "en": "Camera failed — audio only"},
    "camera_recovered": {"tr": "Kamera yeniden çalışıyor", "en": "Camera is back"},
    "request_to_speak_first": {"tr": "Önce Söz Hakkı İste düğmesine basın",
                               "en": "Raise your hand to ask to speak first"},
    "camera_right_needed": {"tr": "Kamera için yöneticinin izni gerekli",
                            "en": "The camera needs the host's permission"},
    "not_in_meeting": {"tr": "Oda toplantıda değil", "en": "This room is not in a meeting"},
    "hold_to_join": {"tr": "Katılmak için el düğmesini basılı tutun",
                     "en": "Hold the hand button to join"},
    "config_error": {"tr": "Ayar dosyasında hata", "en": "Error in the settings file"},
    "joining_scheduled": {"tr": "Planlı toplantıya katılınıyor",
                          "en": "Joining the scheduled meeting"},
    "meeting_time_over": {"tr": "Toplantı saati bitti — beklemede",
                          "en": "Meeting time over — standby"},
    "clock_not_synced": {"tr": "Saat henüz eşitlenmedi", "en": "Clock not synchronised yet"},
    "present_granted": {"tr": "Sunum Hakkı Verildi", "en": "Presenting rights granted"},
    "present_revoked": {"tr": "Sunum hakkı geri alındı", "en": "Presenting rights withdrawn"},
    "presenting_started": {"tr": "Ekran paylaşılıyor", "en": "Presenting"},
    "presenting_stopped": {"tr": "Ekran paylaşımı durdu", "en": "Presentation stopped"},
    "presentation_stopped_by_host": {"tr": "Sunumunuz yönetici tarafından durduruldu",
                                     "en": "The host stopped this room's presentation"},
    "present_right_needed": {"tr": "Sunum için yöneticinin izni gerekli",
                             "en": "Presenting needs the host's permission"},
    "content_not_plugged": {"tr": "HDMI girişine bağlı bir bilgisayar yok",
                            "en": "Nothing is plugged into the HDMI input"},
    "presentation_busy": {"tr": "Şu anda başka biri sunum yapıyor",
                          "en": "Someone else is presenting"},
    "content_started": {"tr": "Ekran paylaşımı başladı", "en": "A screen is being shared"},
    "content_stopped": {"tr": "Ekran paylaşımı bitti", "en": "Screen sharing ended"},
    "content_low_bandwidth": {"tr": "Ekran paylaşımı için bant genişliği yetersiz",
                              "en": "Not enough bandwidth for the shared screen"},
    "content_bandwidth_ok": {"tr": "Paylaşılan ekran yeniden tam geliyor",
                             "en": "The shared screen is coming through again"},
    "config_invalid_using_last_good": {
        "tr": "Ayar dosyası hatalı — son geçerli ayarlar kullanılıyor",
        "en": "Settings file invalid — last good settings in use"},
}

# Progress and reasons on the start-up / connecting / reconnecting screens.
STATUS: Mapping[str, Mapping[Language, str]] = {
    "starting": {"tr": "Başlatılıyor…", "en": "Starting…"},
    "reading_config": {"tr": "Ayarlar okunuyor…", "en": "Reading the configuration…"},
    "checking_devices": {"tr": "Kamera, mikrofon ve hoparlör denetleniyor…",
                         "en": "Checking camera, microphone and speaker…"},
    "contacting_bridge": {"tr": "Konferans sunucusuna bağlanılıyor…",
                          "en": "Contacting the meeting service…"},
    "joining": {"tr": "Odaya giriliyor…", "en": "Joining the meeting…"},
    "starting_media": {"tr": "Ses ve görüntü başlatılıyor…", "en": "Starting audio and video…"},
    "network_lost": {"tr": "Ağ bağlantısı koptu", "en": "The network connection was lost"},
    "bridge_closed": {"tr": "Sunucu bağlantıyı kapattı", "en": "The server closed the connection"},
    "media_failed": {"tr": "Görüntü bağlantısı kesildi", "en": "The media connection failed"},
    "meeting_ended": {"tr": "Toplantı sona erdi", "en": "The meeting has ended"},
    "removed_by_host": {"tr": "Yönetici odayı toplantıdan çıkardı",
                        "en": "The host removed this room from the meeting"},
    # The bridge's certificate refused (appliance/conference/trust.py REFUSED_KEYS).
    "tls_expired": {"tr": "Sunucunun sertifikasının süresi dolmuş — bağlanılmadı",
                    "en": "The server's certificate has expired — not connecting"},
    "tls_not_yet_valid": {
        "tr": "Sunucunun sertifikası henüz geçerli değil — saat doğru mu?",
        "en": "The server's certificate is not valid yet — is the clock right?"},
    "tls_wrong_host": {"tr": "Sunucunun sertifikası başka bir adrese ait — bağlanılmadı",
                       "en": "The server's certificate is for another name — not connecting"},
    "tls_untrusted": {"tr": "Sunucunun sertifikasına güvenilmiyor — bağlanılmadı",
                      "en": "The server's certificate is not trusted — not connecting"},
    "tls_pin_mismatch": {
        "tr": "Sunucunun anahtarı ayar dosyasındaki parmak iziyle eşleşmiyor — bağlanılmadı",
        "en": "The server's key does not match the pin in the settings — not connecting"},
}

UI: Mapping[str, Mapping[Language, str]] = {
    "starting_title": {"tr": "Açılıyor", "en": "Starting up"},
    "version": {"tr": "Sürüm {version}", "en": "Version {version}"},
    "config_error_title": {"tr": "Ayar dosyasında sorun var",
                           "en": "The configuration has a problem"},
    "config_last_good": {"tr": "Son geçerli ayarlarla çalışmaya devam ediliyor.",
                         "en": "The last good configuration is still running."},
    "config_no_good": {"tr": "Geçerli ayar yok: oda toplantıya katılamıyor.",
                       "en": "No valid configuration: the room cannot join its meeting."},
    "config_where": {"tr": "{file}, satır {line}", "en": "{file}, line {line}"},
    "config_field": {"tr": "Alan: {field}", "en": "Field: {field}"},
    "config_more": {"tr": "… ve {n} sorun daha", "en": "… and {n} more problems"},
    "connecting_title": {"tr": "Bağlanıyor", "en": "Connecting"},
    "reconnecting_title": {"tr": "Yeniden bağlanıyor", "en": "Reconnecting"},
    "attempt": {"tr": "Deneme {n}", "en": "Attempt {n}"},
    "lobby_title": {"tr": "Bekleme salonu", "en": "Waiting room"},
    "lobby_waiting": {"tr": "Yöneticinin bu odayı içeri alması bekleniyor",
                      "en": "Waiting for the host to admit this room"},
    "lobby_hint": {"tr": "Toplantı başlamadan 30 dakika önce katılmak önerilir.",
                   "en": "Rooms join early so the meeting can start on time."},
    "left_title": {"tr": "Toplantıdan ayrıldı", "en": "Left the meeting"},
    "camera_off": {"tr": "Kamera kapalı", "en": "Camera off"},
    "camera_live": {"tr": "Kamera açık", "en": "Camera live"},
    "no_video": {"tr": "Görüntü bekleniyor", "en": "Waiting for video"},
    "alone": {"tr": "Henüz başka katılımcı yok", "en": "No one else has joined yet"},
    "content_of": {"tr": "{name} – ekran paylaşımı", "en": "{name} – shared screen"},
    "content_waiting": {"tr": "Paylaşılan ekran bekleniyor…",
                        "en": "Waiting for the shared screen…"},
    "content_starved": {"tr": "Bant genişliği yetersiz", "en": "Not enough bandwidth"},
    "you": {"tr": "Bu oda", "en": "This room"},
    "chat": {"tr": "Sohbet", "en": "Chat"},
    "everyone": {"tr": "Herkes", "en": "Everyone"},
    "private": {"tr": "Özel", "en": "Private"},
    "no_messages": {"tr": "Henüz mesaj yok", "en": "No messages yet"},
    "poll": {"tr": "Anket", "en": "Poll"},
    "poll_open_for": {"tr": "Açık: {time}", "en": "Open for {time}"},
    "poll_your_answer": {"tr": "Odanın yanıtı", "en": "This room's answer"},
    "poll_no_answer": {"tr": "Yanıt verilmedi", "en": "Not answered"},
    "files": {"tr": "Dosyalar", "en": "Files"},
    "participants": {"tr": "Katılımcılar ({n})", "en": "Participants ({n})"},
    "more_files": {"tr": "+{n} dosya daha", "en": "+{n} more files"},
    "more_people": {"tr": "+{n} kişi", "en": "+{n} more"},
    "companion_title": {"tr": "Telefonla katıl", "en": "Use your phone"},
    "companion": {"tr": "Söz iste, ankete yanıt ver, dosya indir",
                  "en": "Raise hand, answer polls, get files"},
    "hand_queue": {"tr": "Söz sırası {n}", "en": "Hand #{n}"},
    "hand_up": {"tr": "Söz istendi", "en": "Hand raised"},
    "audio_rights": {"tr": "Ses hakkı", "en": "Audio right"},
    "mic_live": {"tr": "Mikrofon açık", "en": "Mic on"},
    "mic_muted": {"tr": "Mikrofon kapalı", "en": "Mic muted"},
    "no_audio_right": {"tr": "Söz Hakkı İste", "en": "Raise hand to speak"},
    # the standby screen (between scheduled meetings)
    "standby_today": {"tr": "Bugünün toplantıları", "en": "Today's meetings"},
    "standby_none_today": {"tr": "Bugün başka toplantı yok", "en": "No more meetings today"},
    "standby_next": {"tr": "Sıradaki: {when} · {title}", "en": "Next: {when} · {title}"},
    "standby_no_next": {"tr": "Planlı toplantı yok", "en": "No meetings scheduled"},
    "standby_item": {"tr": "{start}–{end} {title}", "en": "{start}–{end} {title}"},
    "standby_clock_unsynced": {
        "tr": "Saat henüz eşitlenmedi: toplantılara kendiliğinden katılınmıyor",
        "en": "The clock is not synchronised yet: no meeting is joined by itself"},
    "standby_schedule_unknown": {"tr": "Toplantı planı alınamadı",
                                 "en": "The schedule could not be fetched"},
    "standby_hint": {"tr": "Katılmak için el düğmesini basılı tutun",
                     "en": "Hold the hand button to join now"},
    "standby_checks": {"tr": "Cihaz denetimi: {parts}", "en": "Device check: {parts}"},
    "check_camera": {"tr": "Kamera", "en": "Camera"},
    "check_microphone": {"tr": "Mikrofon", "en": "Microphone"},
    "check_speaker": {"tr": "Hoparlör", "en": "Speaker"},
}

WEEKDAYS: Mapping[Language, tuple[str, ...]] = {
    "tr": ("Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS: Mapping[Language, tuple[str, ...]] = {
    "tr": ("Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos",
           "Eylül", "Ekim", "Kasım", "Aralık"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}


def long_date(day: int, month: int, year: int, weekday: int, language: Language) -> str:
    """"8 Aralık 2026 Salı" / "Tuesday 8 December 2026"."""
    if language == "tr":
        return f"{day} {MONTHS['tr'][month - 1]} {year} {WEEKDAYS['tr'][weekday]}"
    return f"{WEEKDAYS['en'][weekday]} {day} {MONTHS['en'][month - 1]} {year}"


def ui(key: str, language: Language, **args: object) -> str:
    return fill(UI[key][language], args)


def status(key: str, language: Language) -> str:
    """An i18n status line; free text (e.g. an error from the server) passes through."""
    entry = STATUS.get(key)
    return entry[language] if entry else key


def notice(n: Notice, language: Language) -> str:
    entry = NOTICES.get(n.key)
    if entry is None:
        return n.text or n.key
    return fill(entry[language], dict(n.args))


def file_size(size_bytes: int, language: Language) -> str:
    units = ("B", "KB", "MB", "GB")
    value = float(size_bytes)
    unit = 0
    while value >= 1000 and unit < len(units) - 1:
        value /= 1000
        unit += 1
    text = f"{value:.0f}" if unit == 0 or value >= 100 else f"{value:.1f}"
    if language == "tr":
        text = text.replace(".", ",")
    return f"{text} {units[unit]}"


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
