// Turkish and English. The guide's own words stay in Turkish ("Söz Hakkı İste",
// "Sesimi Bağla", ...); the language comes from a saved choice, else the browser.

const tr = {
  "app.name": "Salon",
  "status.connecting": "Bağlanıyor…",
  "status.in_meeting": "Toplantıdasınız",
  "status.lobby": "Bekleme salonundasınız",
  "status.disconnected": "Bağlantı kesildi",
  "status.reconnecting": "Yeniden bağlanıyor…",
  "status.left": "Toplantıdan ayrıldınız",
  "status.media_problem": "Görüntü/ses sorunu: {message}",

  "entry.address": "Toplantı adresi: {address}",
  "entry.signin.title": "Oturum Aç",
  "entry.signin.user": "Kullanıcı Adı",
  "entry.signin.password": "Parola",
  "entry.signin.submit": "Oturum Aç",
  "entry.guest.title": "Misafir olarak katıl",
  "entry.guest.name": "Adınız",
  "entry.guest.hint": "Adınızı BÜYÜK harflerle yazın, ardından tire ve ilinizi ya da biriminizi ekleyin, örneğin:",
  "entry.guest.note": "Misafirler, ev sahibi onayladıktan sonra toplantıya girer.",
  "entry.guest.submit": "Odaya Gir",
  "entry.devices.title": "Girmeden önce cihazlarınızı sınayın",
  "entry.devices.tip": "Yankı ve gürültüyü önlemek için kulaklık kullanın.",
  "entry.devices.test": "Kamera ve Mikrofonu Sına",
  "entry.devices.stop": "Sınamayı Bitir",
  "entry.devices.speaker": "Hoparlörü Sına",
  "entry.devices.level": "Mikrofon düzeyi",
  "entry.devices.speaker_playing": "Şimdi bir ses duymalısınız.",
  "entry.devices.failed": "Kameraya ya da mikrofona erişilemedi: {message}",
  "entry.busy": "Bağlanıyor…",

  "lobby.title": "Ev sahibini bekliyorsunuz",
  "lobby.text": "Ev sahibi sizi içeri aldığında toplantı kendiliğinden açılır. Bu sayfayı kapatmayın.",
  "lobby.you": "Adınız: {name}",
  "lobby.leave": "Vazgeç",

  "ended.title": "Toplantı dışındasınız",
  "ended.left": "Toplantıdan ayrıldınız.",
  "ended.denied": "Ev sahibi girişinizi onaylamadı.",
  "ended.removed": "Ev sahibi sizi toplantıdan çıkardı.",
  "ended.replaced": "Aynı oturumla başka bir yerden girildi.",
  "ended.meeting_ended": "Toplantı sona erdi.",
  "ended.disconnected": "Toplantıyla bağlantı koptu.",
  "ended.again": "Yeniden Katıl",

  "toolbar.label": "Toplantı denetimleri",
  "hand.raise": "Söz Hakkı İste",
  "hand.lower": "Elimi İndir",
  "hand.place": "Söz sıranız: {n}",
  "mic.connect": "Sesimi Bağla",
  "mic.mute": "Mikrofonumu Kapat",
  "cam.start": "Web Kameramı Başlat",
  "cam.stop": "Web Kameramı Kapat",
  "share.start": "Paylaşımı Başlat",
  "share.stop": "Paylaşımı Durdur",
  "speaker.off": "Hoparlörü Kapat",
  "speaker.on": "Hoparlörü Aç",
  "leave": "Ayrıl",
  "end.meeting": "Toplantıyı Bitir",
  "end.confirm": "Herkes İçin Bitir",
  "rights.audio.yes": "Ses hakkınız var",
  "rights.audio.no": "Ses hakkınız yok",
  "rights.camera.yes": "Kamera hakkınız var",
  "rights.camera.no": "Kamera hakkınız yok",
  "rights.hint": "Konuşmak için Söz Hakkı İste düğmesine basın; ev sahibi onaylayınca mikrofonunuz etkinleşir.",

  "stage.label": "Görüntüler",
  "stage.empty": "Henüz kimse görüntü ya da ses paylaşmıyor.",
  "stage.no_sound": "Ses gelmiyor mu? Hoparlörünüzü ve ses çıkışınızı denetleyin, hoparlör düğmesinin açık olduğundan emin olun. Toplantı başlamamış ya da ev sahibi sesi henüz açmamış olabilir.",
  "tile.preview": "Önizleme – yalnızca siz görüyorsunuz",
  "tile.sharing": "Siz – paylaşılıyor",

  "people.title": "Katılımcılar ({n})",
  "people.you": "(siz)",
  "role.host": "Ev sahibi",
  "role.guest": "Misafir",
  "role.device": "Sınıf cihazı",
  "mark.hand": "Söz istedi, sıra {n}",
  "mark.mic_on": "Mikrofon açık",
  "mark.mic_off": "Ses hakkı var, mikrofon kapalı",
  "mark.camera": "Kamera hakkı var",
  "mark.sharing": "Görüntü paylaşıyor",
  "mark.talking": "Konuşuyor",
  "rename.open": "Bilgilerimi Düzenle",
  "rename.label": "Görünen adınız",
  "rename.ok": "Tamam",
  "rename.cancel": "Vazgeç",
  "host.grant_audio": "Ses Hakkı Ver",
  "host.revoke_audio": "Ses Hakkını Al",
  "host.grant_camera": "Kamera Hakkı Ver",
  "host.revoke_camera": "Kamera Hakkını Al",
  "host.mute": "Sustur",
  "host.lower_hand": "Elini İndir",
  "host.remove": "Çıkar",
  "host.remove_confirm": "Çıkarmayı Onayla",
  "queue.title": "Bekleme Salonu ({n})",
  "queue.admit": "Kabul Et",
  "queue.deny": "Reddet",
  "queue.admit_all": "Tümünü Kabul Et",

  "tabs.label": "Toplantı bölmeleri",
  "tabs.chat": "Sohbet",
  "tabs.polls": "Anket",
  "tabs.files": "Dosyalar",
  "tabs.reports": "Raporlar",

  "chat.to": "Kime",
  "chat.everyone": "Herkes",
  "chat.message": "Mesaj",
  "chat.send": "Gönder",
  "chat.private_to": "Özel → {name}",
  "chat.private_from": "Size özel",
  "chat.empty": "Henüz mesaj yok.",
  "chat.count": "{n}/{max}",

  "polls.new": "Yeni Anket",
  "polls.question": "Soru",
  "polls.options": "Seçenekler (her satıra bir seçenek)",
  "polls.create": "Anketi Oluştur",
  "polls.open": "Anketi Aç",
  "polls.close": "Anketi Kapat",
  "polls.show": "Sonuçları Herkese Göster",
  "polls.hide": "Sonuçları Gizle",
  "polls.state.draft": "Taslak",
  "polls.state.open": "Açık",
  "polls.state.closed": "Kapandı",
  "polls.votes": "{n} oy",
  "polls.total": "Toplam {n} yanıt",
  "polls.none": "Henüz anket yok.",
  "polls.pick": "Bir seçenek işaretleyin; anket açıkken yanıtınızı değiştirebilirsiniz.",
  "polls.saved": "Yanıtınız kaydedildi.",
  "polls.closed_note": "Anket kapandı.",
  "polls.options_error": "2 ile 10 arasında seçenek yazın, her satıra bir tane.",

  "files.choose": "Paylaşılacak dosya",
  "files.upload": "Yükle",
  "files.save": "Bilgisayarıma Kaydet",
  "files.none": "Henüz paylaşılan dosya yok.",
  "files.too_large": "Dosya çok büyük: en çok {max} yüklenebilir.",
  "files.by": "{name} paylaştı",
  "files.uploading": "Yükleniyor…",
  "files.uploaded": "Yüklendi: {name}",

  "reports.meeting": "Toplantı",
  "reports.current": "Şu anki toplantı",
  "reports.item": "#{id} – {started}",
  "reports.view": "Raporu Görüntüle",
  "reports.attendance_csv": "Katılım Raporu (CSV)",
  "reports.activity_csv": "Etkinlik Raporu (CSV)",
  "reports.title": "Toplantı Raporu – {title}",
  "reports.span": "Başlangıç {started} · Bitiş {ended}",
  "reports.running": "sürüyor",
  "reports.attendance": "Katılım",
  "reports.activity": "Etkinlikler",
  "reports.close": "Raporu Kapat",
  "col.name": "Ad",
  "col.kind": "Tür",
  "col.first_joined": "İlk giriş",
  "col.last_left": "Son çıkış",
  "col.present": "Süre",
  "col.speaking": "Konuşma",
  "col.hands": "Söz isteği",
  "col.chat": "Mesaj",
  "col.polls": "Anket",
  "col.downloads": "İndirme",
  "col.at": "Zaman",
  "col.event": "Olay",
  "col.actor": "Yapan",
  "col.subject": "Kime",
  "col.details": "Ayrıntı",

  "notice.audio_granted": "Ses Hakları Verildi",
  "notice.audio_revoked": "Ses haklarınız geri alındı",
  "notice.video_granted": "Kamera Hakları Verildi",
  "notice.video_revoked": "Kamera haklarınız geri alındı",
  "notice.muted_by_host": "Ev sahibi mikrofonunuzu kapattı",
  "notice.hand_lowered_by_host": "Ev sahibi söz isteğinizi indirdi",
  "notice.lobby_arrival": "{name} bekleme salonunda",
  "notice.poll_opened": "Yeni anket: {question}",
  "notice.file_added": "Yeni dosya: {name}",
  "notice.private_message": "{name} size özel mesaj gönderdi",
  "notice.denied_device": "Cihaza erişilemedi: {message}",

  "err.bad_credentials": "Kullanıcı adı ya da parola yanlış.",
  "err.sign_in_throttled": "Çok sayıda hatalı deneme: bir dakika bekleyip yeniden deneyin.",
  "err.room_private": "Bu toplantıya yalnızca oturum açan kullanıcılar girebilir.",
  "err.no_such_room": "Bu adreste bir toplantı odası yok.",
  "err.removed": "Ev sahibi sizi bu toplantıdan çıkardı.",
  "err.bad_name": "Geçerli bir ad yazın.",
  "err.guest_name_capitals": "Adınızı BÜYÜK harflerle yazın, örneğin “{example}”.",
  "err.guest_name_words": "Tireden önce adınızı ve soyadınızı yazın, örneğin “{example}”.",
  "err.guest_name_letters": "Adınızda yalnızca harf kullanın, örneğin “{example}”.",
  "err.guest_name_unit": "Tireden sonra ilinizi ya da biriminizi yazın, örneğin “{example}”.",
  "err.guest_name_dash": "Adınızdan sonra bir tire ve ilinizi ya da biriminizi yazın, örneğin “{example}”.",
  "err.session_expired": "Bu toplantı bitti; yeniden katılın.",
  "err.bad_token": "Oturumunuz geçersiz; yeniden katılın.",
  "err.not_host": "Bunu yalnızca ev sahibi yapabilir.",
  "err.not_admitted": "Önce ev sahibinin sizi içeri alması gerekiyor.",
  "err.no_audio_right": "Ev sahibi size henüz ses hakkı vermedi.",
  "err.rate_limited": "Çok hızlı: biraz bekleyin.",
  "err.chat_rate_limited": "Çok sayıda mesaj: biraz bekleyin.",
  "err.chat_too_long": "Mesaj çok uzun.",
  "err.chat_empty": "Mesaj boş.",
  "err.no_such_recipient": "Bu kişi artık toplantıda değil.",
  "err.bad_poll": "Anket geçersiz: soruyu ve 2–10 seçeneği yazın.",
  "err.poll_state": "Anket bu durumda bunu kabul etmiyor.",
  "err.poll_not_open": "Anket açık değil.",
  "err.file_too_large": "Dosya çok büyük.",
  "err.no_such_file": "Bu odada böyle bir dosya yok.",
  "err.media_unavailable": "Medya sunucusu şu anda yanıt vermiyor; yeniden deneniyor.",
  "err.target_is_host": "Bu, ev sahibine uygulanamaz.",
  "err.not_waiting": "Bu kişi artık beklemiyor.",
  "err.unreachable": "Toplantı sunucusuna ulaşılamıyor.",
  "err.unknown": "İşlem yapılamadı: {message}",
};

const en = {
  "app.name": "Salon",
  "status.connecting": "Connecting…",
  "status.in_meeting": "In the meeting",
  "status.lobby": "In the lobby",
  "status.disconnected": "Disconnected",
  "status.reconnecting": "Reconnecting…",
  "status.left": "You left the meeting",
  "status.media_problem": "Media problem: {message}",

  "entry.address": "Meeting address: {address}",
  "entry.signin.title": "Sign in",
  "entry.signin.user": "User name",
  "entry.signin.password": "Password",
  "entry.signin.submit": "Sign in",
  "entry.guest.title": "Join as a guest",
  "entry.guest.name": "Your name",
  "entry.guest.hint": "Type your name in CAPITALS, then a dash and your province or unit, for example:",
  "entry.guest.note": "Guests enter once the host lets them in.",
  "entry.guest.submit": "Join the room",
  "entry.devices.title": "Test your devices before you enter",
  "entry.devices.tip": "Use a headset to avoid echo and noise.",
  "entry.devices.test": "Test camera and microphone",
  "entry.devices.stop": "Stop the test",
  "entry.devices.speaker": "Test speaker",
  "entry.devices.level": "Microphone level",
  "entry.devices.speaker_playing": "You should hear a tone now.",
  "entry.devices.failed": "Cannot use the camera or microphone: {message}",
  "entry.busy": "Connecting…",

  "lobby.title": "Waiting for the host",
  "lobby.text": "The meeting opens by itself once the host lets you in. Keep this page open.",
  "lobby.you": "Your name: {name}",
  "lobby.leave": "Leave",

  "ended.title": "You are not in the meeting",
  "ended.left": "You left the meeting.",
  "ended.denied": "The host did not let you in.",
  "ended.removed": "The host removed you from the meeting.",
  "ended.replaced": "This session joined again from somewhere else.",
  "ended.meeting_ended": "The meeting has ended.",
  "ended.disconnected": "The connection to the meeting was lost.",
  "ended.again": "Join again",

  "toolbar.label": "Meeting controls",
  "hand.raise": "Request to speak",
  "hand.lower": "Lower my hand",
  "hand.place": "Your place in the queue: {n}",
  "mic.connect": "Connect my audio",
  "mic.mute": "Mute my microphone",
  "cam.start": "Start my webcam",
  "cam.stop": "Stop my webcam",
  "share.start": "Start sharing",
  "share.stop": "Stop sharing",
  "speaker.off": "Turn speaker off",
  "speaker.on": "Turn speaker on",
  "leave": "Leave",
  "end.meeting": "End meeting",
  "end.confirm": "End for everyone",
  "rights.audio.yes": "You have audio rights",
  "rights.audio.no": "No audio rights",
  "rights.camera.yes": "You have camera rights",
  "rights.camera.no": "No camera rights",
  "rights.hint": "To speak, press Request to speak; your microphone becomes active once the host agrees.",

  "stage.label": "Video",
  "stage.empty": "Nobody is sharing video or audio yet.",
  "stage.no_sound": "No sound? Check your speakers and audio output, and that the speaker button is on. The meeting may not have started, or the host may not have opened audio yet.",
  "tile.preview": "Preview – only you can see this",
  "tile.sharing": "You – sharing",

  "people.title": "Participants ({n})",
  "people.you": "(you)",
  "role.host": "Host",
  "role.guest": "Guest",
  "role.device": "Room device",
  "mark.hand": "Hand raised, place {n}",
  "mark.mic_on": "Microphone on",
  "mark.mic_off": "Audio rights, microphone off",
  "mark.camera": "Camera rights",
  "mark.sharing": "Sharing video",
  "mark.talking": "Talking",
  "rename.open": "Edit my details",
  "rename.label": "Your display name",
  "rename.ok": "OK",
  "rename.cancel": "Cancel",
  "host.grant_audio": "Grant audio",
  "host.revoke_audio": "Revoke audio",
  "host.grant_camera": "Grant camera",
  "host.revoke_camera": "Revoke camera",
  "host.mute": "Mute",
  "host.lower_hand": "Lower hand",
  "host.remove": "Remove",
  "host.remove_confirm": "Confirm removal",
  "queue.title": "Lobby ({n})",
  "queue.admit": "Admit",
  "queue.deny": "Deny",
  "queue.admit_all": "Admit all",

  "tabs.label": "Meeting panes",
  "tabs.chat": "Chat",
  "tabs.polls": "Polls",
  "tabs.files": "Files",
  "tabs.reports": "Reports",

  "chat.to": "To",
  "chat.everyone": "Everyone",
  "chat.message": "Message",
  "chat.send": "Send",
  "chat.private_to": "Private → {name}",
  "chat.private_from": "Private to you",
  "chat.empty": "No messages yet.",
  "chat.count": "{n}/{max}",

  "polls.new": "New poll",
  "polls.question": "Question",
  "polls.options": "Options (one per line)",
  "polls.create": "Create poll",
  "polls.open": "Open poll",
  "polls.close": "Close poll",
  "polls.show": "Show results to all",
  "polls.hide": "Hide results",
  "polls.state.draft": "Draft",
  "polls.state.open": "Open",
  "polls.state.closed": "Closed",
  "polls.votes": "{n} votes",
  "polls.total": "{n} answers in all",
  "polls.none": "No polls yet.",
  "polls.pick": "Pick an option; you can change your answer while the poll is open.",
  "polls.saved": "Your answer is saved.",
  "polls.closed_note": "The poll is closed.",
  "polls.options_error": "Give 2 to 10 options, one per line.",

  "files.choose": "File to share",
  "files.upload": "Upload",
  "files.save": "Save to my computer",
  "files.none": "No files shared yet.",
  "files.too_large": "The file is too large: at most {max}.",
  "files.by": "shared by {name}",
  "files.uploading": "Uploading…",
  "files.uploaded": "Uploaded: {name}",

  "reports.meeting": "Meeting",
  "reports.current": "Current meeting",
  "reports.item": "#{id} – {started}",
  "reports.view": "View report",
  "reports.attendance_csv": "Attendance report (CSV)",
  "reports.activity_csv": "Activity report (CSV)",
  "reports.title": "Meeting report – {title}",
  "reports.span": "Started {started} · Ended {ended}",
  "reports.running": "still on",
  "reports.attendance": "Attendance",
  "reports.activity": "Activity",
  "reports.close": "Close report",
  "col.name": "Name",
  "col.kind": "Kind",
  "col.first_joined": "First joined",
  "col.last_left": "Last left",
  "col.present": "Present",
  "col.speaking": "Speaking",
  "col.hands": "Hands",
  "col.chat": "Messages",
  "col.polls": "Polls",
  "col.downloads": "Downloads",
  "col.at": "Time",
  "col.event": "Event",
  "col.actor": "By",
  "col.subject": "To",
  "col.details": "Details",

  "notice.audio_granted": "Audio rights granted",
  "notice.audio_revoked": "Audio rights taken back",
  "notice.video_granted": "Camera rights granted",
  "notice.video_revoked": "Camera rights taken back",
  "notice.muted_by_host": "The host muted your microphone",
  "notice.hand_lowered_by_host": "The host lowered your hand",
  "notice.lobby_arrival": "{name} is waiting in the lobby",
  "notice.poll_opened": "New poll: {question}",
  "notice.file_added": "New file: {name}",
  "notice.private_message": "{name} sent you a private message",
  "notice.denied_device": "Cannot use the device: {message}",

  "err.bad_credentials": "Wrong user name or password.",
  "err.sign_in_throttled": "Too many failed attempts: wait a minute and try again.",
  "err.room_private": "Only signed-in users may join this meeting.",
  "err.no_such_room": "There is no meeting room at this address.",
  "err.removed": "The host removed you from this meeting.",
  "err.bad_name": "Type a valid name.",
  "err.guest_name_capitals": "Write your name in CAPITALS, like “{example}”.",
  "err.guest_name_words": "Give your first name and surname before the dash, like “{example}”.",
  "err.guest_name_letters": "Use only letters in your name, like “{example}”.",
  "err.guest_name_unit": "After the dash write your province or unit, like “{example}”.",
  "err.guest_name_dash": "Put a dash and your province or unit after your name, like “{example}”.",
  "err.session_expired": "That meeting is over; join again.",
  "err.bad_token": "Your session is no longer valid; join again.",
  "err.not_host": "Only the host may do this.",
  "err.not_admitted": "The host has to let you in first.",
  "err.no_audio_right": "The host has not given you audio rights yet.",
  "err.rate_limited": "Too fast: wait a moment.",
  "err.chat_rate_limited": "Too many messages: wait a moment.",
  "err.chat_too_long": "The message is too long.",
  "err.chat_empty": "The message is empty.",
  "err.no_such_recipient": "That person is no longer in the meeting.",
  "err.bad_poll": "Invalid poll: write the question and 2 to 10 options.",
  "err.poll_state": "The poll cannot do that in its current state.",
  "err.poll_not_open": "The poll is not open.",
  "err.file_too_large": "The file is too large.",
  "err.no_such_file": "There is no such file in this room.",
  "err.media_unavailable": "The media server is not answering; retrying.",
  "err.target_is_host": "Not applicable to a host.",
  "err.not_waiting": "That guest is no longer waiting.",
  "err.unreachable": "Cannot reach the meeting server.",
  "err.unknown": "Could not do that: {message}",
};

export const GUEST_NAME_EXAMPLE = "BEHİÇ ÇELEBİ – ANKARA MEM";
const TABLES = { tr, en };
export const LANGUAGES = { tr: "Türkçe", en: "English" };
const KEY = "salon.language";
const listeners = new Set();

function initial() {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved in TABLES) return saved;
  } catch (e) { /* storage may be off */ }
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const base = String(tag || "").toLowerCase().split("-")[0];
    if (base in TABLES) return base;
  }
  return "en";
}

let current = initial();

export function language() { return current; }

export function t(key, vars = {}) {
  const text = TABLES[current][key] ?? TABLES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

export function has(key) { return key in TABLES[current]; }

/** A refusal's code in words the user reads; the bridge's English message otherwise. */
export function errorText(code, message) {
  const key = `err.${code}`;
  if (has(key)) return t(key, { example: GUEST_NAME_EXAMPLE });
  return t("err.unknown", { message: message || code });
}

/** Fill every element marked data-i18n (text) or data-i18n-placeholder below root. */
export function translate(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function setLanguage(lang) {
  if (!(lang in TABLES) || lang === current) return;
  current = lang;
  try { localStorage.setItem(KEY, lang); } catch (e) { /* storage may be off */ }
  translate();
  for (const fn of listeners) fn(lang);
}

export function onLanguageChange(fn) { listeners.add(fn); }

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString(current === "tr" ? "tr-TR" : "en-GB",
    { hour: "2-digit", minute: "2-digit" });
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString(current === "tr" ? "tr-TR" : "en-GB",
    { dateStyle: "short", timeStyle: "medium" });
}

export function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const num = v.toLocaleString(current === "tr" ? "tr-TR" : "en-GB", { maximumFractionDigits: i ? 1 : 0 });
  return `${num} ${units[i]}`;
}

export function formatSeconds(s) {
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const pad = (x) => String(x).padStart(2, "0");
  return h ? `${h}:${pad(m % 60)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}
