"""What the provisioning validator says, in Turkish and English.

The validator (appliance.provisioning) reports each problem as a `Phrase`: one of these keys
and its arguments. `check-config` and the log print the English text; the room's screen
shows the room's language. Arguments may be phrases themselves (a value's kind, what a
field expects), so a Turkish sentence never carries an English part. Values quoted from
the file (`{value}`, `{url}`, `{key}`, paths) are shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Language = Literal["tr", "en"]


@dataclass(frozen=True)
class Phrase:
    """A sentence the screen translates: a catalogue key (CONFIG) and its arguments, which
    are plain values or phrases themselves ("{value} is {kind}, not {expected}")."""

    key: str
    args: tuple[tuple[str, str | int | Phrase], ...] = ()

CONFIG: Mapping[str, Mapping[Language, str]] = {
    # -- the file itself
    "no_file": {"en": "no provisioning file found", "tr": "ayar dosyası bulunamadı"},
    "file_not_found": {"en": "file not found", "tr": "dosya bulunamadı"},
    "cannot_read": {"en": "cannot read: {reason}", "tr": "okunamıyor: {reason}"},
    "not_utf8": {"en": "the file is not UTF-8 (byte {byte})",
                 "tr": "dosya UTF-8 değil ({byte} baytı)"},
    "too_large": {"en": "the file has {size} bytes, more than the {limit} a provisioning "
                        "file may have",
                  "tr": "dosya {size} bayt; bir ayar dosyası en çok {limit} olabilir"},
    "nul_bytes": {"en": "the file has {count} NUL bytes, from line {line} on: it is damaged "
                        "(a power cut while it was being written?)",
                  "tr": "dosyada {line}. satırdan itibaren {count} NUL baytı var: dosya "
                        "bozulmuş (yazılırken elektrik mi kesildi?)"},
    "too_deep": {"en": "values are nested more than {limit} levels deep",
                 "tr": "değerler {limit} düzeyden daha derin iç içe"},
    "internal_error": {"en": "internal error: {detail}", "tr": "iç hata: {detail}"},
    "toml_syntax": {"en": "TOML syntax error: {detail}", "tr": "TOML sözdizimi hatası: {detail}"},
    # -- tables, keys and values
    "table_missing": {"en": "the [{table}] table is missing", "tr": "[{table}] tablosu eksik"},
    "key_missing": {"en": "required key {key} is missing", "tr": "zorunlu {key} anahtarı eksik"},
    "unknown_key": {"en": "unknown key {key}", "tr": "bilinmeyen anahtar: {key}"},
    "not_a_table": {"en": "{key} must be a table, not {kind}",
                    "tr": "{key} bir tablo olmalı, {kind} değil"},
    "not_allowed": {"en": "{value} is not one of the allowed values",
                    "tr": "{value} izin verilen değerlerden biri değil"},
    "out_of_range": {"en": "{value} is out of range",
                     "tr": "{value} izin verilen aralığın dışında"},
    "too_short": {"en": "{value} is too short", "tr": "{value} çok kısa"},
    "too_long": {"en": "{value} is too long", "tr": "{value} çok uzun"},
    "wrong_type": {"en": "{value} is {kind}, not {expected}",
                   "tr": "{value} {kind}; beklenen: {expected}"},
    "secret_value": {"en": "the value", "tr": "değer"},
    # -- what a value is (kind) and what a field takes (type)
    "kind_bool": {"en": "a boolean", "tr": "bir mantıksal değer"},
    "kind_int": {"en": "an integer", "tr": "bir tamsayı"},
    "kind_float": {"en": "a number", "tr": "bir sayı"},
    "kind_str": {"en": "a string", "tr": "bir metin"},
    "kind_list": {"en": "a list", "tr": "bir liste"},
    "kind_table": {"en": "a table", "tr": "bir tablo"},
    "kind_datetime": {"en": "a date/time", "tr": "bir tarih/saat"},
    "type_choice": {"en": "one of {choices}", "tr": "şunlardan biri: {choices}"},
    "type_int_list": {"en": "a list of integers", "tr": "tamsayı listesi"},
    "type_list": {"en": "a list", "tr": "bir liste"},
    "type_bool": {"en": "true or false", "tr": "true ya da false"},
    "type_int": {"en": "an integer", "tr": "bir tamsayı"},
    "type_int_range": {"en": "an integer from {low} to {high}",
                       "tr": "{low} ile {high} arasında bir tamsayı"},
    "type_int_min": {"en": "an integer of at least {low}", "tr": "en az {low} olan bir tamsayı"},
    "type_int_max": {"en": "an integer of at most {high}", "tr": "en çok {high} olan bir tamsayı"},
    "type_number": {"en": "a number", "tr": "bir sayı"},
    "type_number_range": {"en": "a number from {low} to {high}",
                          "tr": "{low} ile {high} arasında bir sayı"},
    "type_number_min": {"en": "a number of at least {low}", "tr": "en az {low} olan bir sayı"},
    "type_number_max": {"en": "a number of at most {high}", "tr": "en çok {high} olan bir sayı"},
    "type_string": {"en": "a quoted string", "tr": "tırnak içinde bir metin"},
    "type_table": {"en": "a table", "tr": "bir tablo"},
    "type_any": {"en": "a value", "tr": "bir değer"},
    "type_other": {"en": "{name}", "tr": "{name}"},
    # -- field rules (appliance.provisioning.schema)
    "room_name_invisible": {"en": "the room name must be visible text on one line",
                            "tr": "oda adı tek satırda görünür bir metin olmalı"},
    "url_not_http": {"en": "{url} is not an http or https URL",
                     "tr": "{url} bir http ya da https adresi değil"},
    "url_no_host": {"en": "{url} has no host name", "tr": "{url} adresinde sunucu adı yok"},
    "url_query": {"en": "{url} must not have a query or fragment",
                  "tr": "{url} adresinde ? ya da # ile başlayan bir kısım olmamalı"},
    "url_bad_port": {"en": "{url} has an invalid port", "tr": "{url} adresinin portu geçersiz"},
    "url_credentials": {"en": "{url} has a user name or password in it",
                        "tr": "{url} adresinde kullanıcı adı ya da parola var"},
    "room_full_url": {"en": "room is the room's address, not a full URL",
                      "tr": "room odanın adresidir, tam bir URL değil"},
    "room_leading_slash": {"en": "room is written without the leading '/'",
                           "tr": "room başında '/' olmadan yazılır"},
    "room_bad_address": {"en": "{value} is not a room address",
                         "tr": "{value} bir oda adresi değil"},
    "unknown_time_zone": {"en": "{value} is not a known time zone",
                          "tr": "{value} bilinen bir saat dilimi değil"},
    "not_loopback": {"en": "{value} is not a loopback address",
                     "tr": "{value} bir loopback (127.0.0.1 gibi) adresi değil"},
    # -- rules across keys and on this disk (appliance.provisioning.checks)
    "pin_used_twice": {"en": "GPIO {pin} is already used by {other} (line {line})",
                       "tr": "GPIO {pin} zaten {other} için kullanılıyor (satır {line})"},
    "pin_i2s": {"en": "GPIO {pin} is an I2S audio pin", "tr": "GPIO {pin} bir I2S ses pini"},
    "button_level_missing": {"en": "with pull = \"off\" the active level must be given",
                             "tr": "pull = \"off\" ile etkin seviye de yazılmalı"},
    "button_pulled_up": {"en": "a pulled-up button is pressed when low",
                         "tr": "pull = \"up\" bir düğme basılınca düşük seviyededir"},
    "button_pulled_down": {"en": "a pulled-down button is pressed when high",
                           "tr": "pull = \"down\" bir düğme basılınca yüksek seviyededir"},
    "mic_led_both": {"en": "the mic LED has both a single pin and colour pins",
                     "tr": "mikrofon LED'inde hem tek pin hem renk pinleri var"},
    "mic_led_none": {"en": "the mic LED has no pins", "tr": "mikrofon LED'inin pini yok"},
    "mic_led_colour": {"en": "an RGB mic LED needs a {colour} pin",
                       "tr": "RGB mikrofon LED'i için {colour} pini gerekli"},
    "device_needs_user": {"en": "mode = \"device\" needs the device account's user name",
                          "tr": "mode = \"device\" için cihaz hesabının kullanıcı adı gerekli"},
    "device_needs_password": {"en": "mode = \"device\" needs the account's password",
                              "tr": "mode = \"device\" için hesabın parolası gerekli"},
    "both_passwords": {"en": "both password and password_file are set",
                       "tr": "hem password hem password_file yazılmış"},
    "inline_password": {"en": "an inline password can be read by anyone holding the SD card",
                        "tr": "dosyaya yazılan parolayı SD kartı eline alan herkes okuyabilir"},
    "ignored_for_guest": {"en": "{key} is ignored with mode = \"guest\"",
                          "tr": "mode = \"guest\" iken {key} kullanılmaz"},
    "guest_name_format": {"en": "guests write their name in capitals, a dash and the province",
                          "tr": "misafirler adlarını büyük harflerle, bir tire ve iliyle yazar"},
    "reconnect_delays": {"en": "the first reconnect delay exceeds the maximum",
                         "tr": "ilk yeniden bağlanma beklemesi üst sınırdan uzun"},
    "pin_not_sha256": {"en": "{value} is not a SHA-256 pin",
                       "tr": "{value} bir SHA-256 parmak izi değil"},
    "tls_check_needs_https": {"en": "{key} checks the bridge's certificate, and an http:// "
                                    "bridge has none",
                              "tr": "{key} köprünün sertifikasını denetler; http:// ile "
                                    "bağlanılan bir köprünün sertifikası yoktur"},
    "ca_file_unusable": {"en": "{path} holds no usable CA certificate ({detail})",
                         "tr": "{path} kullanılabilir bir CA sertifikası içermiyor ({detail})"},
    "password_unencrypted": {"en": "the device password would cross the network unencrypted",
                             "tr": "cihaz parolası ağda şifrelenmeden gider"},
    "bitrate_bounds": {"en": "the minimum bitrate exceeds the maximum",
                       "tr": "en düşük bit hızı en yüksekten büyük"},
    "odd_size": {"en": "{value} is odd; H.264 needs even picture sizes",
                 "tr": "{value} tek sayı; H.264 çift görüntü boyutları ister"},
    "content_device_path": {"en": "{value} is neither \"auto\" nor a device path",
                            "tr": "{value} ne \"auto\" ne de bir aygıt yolu"},
    "content_device_is_camera": {
        "en": "the content input {value} is the room's camera ([camera] device)",
        "tr": "içerik girişi {value} odanın kamerası ([camera] device)"},
    "content_cannot_start": {
        "en": "nothing can start presenting: present_on_plug is false and there is no "
              "[buttons.camera] to hold",
        "tr": "sunum hiçbir şekilde başlatılamaz: present_on_plug false ve basılı "
              "tutulacak bir [buttons.camera] yok"},
    "picamera_rotation": {
        "en": "a Pi camera module (backend \"picamera2\") cannot turn its picture "
              "{rotation} degrees: libcamera only flips it",
        "tr": "Pi kamera modülü (backend \"picamera2\") görüntüsünü {rotation} derece "
              "döndüremez: libcamera yalnızca aynalar"},
    "channel_missing": {"en": "channel {channel} does not exist",
                        "tr": "{channel} numaralı kanal yok"},
    "channel_twice": {"en": "channel {channel} is listed twice",
                      "tr": "{channel} numaralı kanal iki kez yazılmış"},
    "wav_needs_file": {"en": "speaker_backend = \"wav\" needs a file to record to",
                       "tr": "speaker_backend = \"wav\" kaydedeceği bir dosya ister"},
    "aec_ignored": {"en": "ignored: array_has_aec = true switches the software echo "
                          "canceller off",
                    "tr": "kullanılmıyor: array_has_aec = true yazılımla yankı gidermeyi "
                          "kapatır"},
    "file_missing": {"en": "file not found: {path}", "tr": "dosya bulunamadı: {path}"},
    "credentials_unset": {"en": "CREDENTIALS_DIRECTORY is not set",
                          "tr": "CREDENTIALS_DIRECTORY tanımlı değil"},
    "password_file_missing": {"en": "password file not found: {path}",
                              "tr": "parola dosyası bulunamadı: {path}"},
    "cannot_inspect": {"en": "cannot look at {path}: {reason}",
                       "tr": "{path} incelenemiyor: {reason}"},
    "not_regular_file": {"en": "{path} is not a regular file",
                         "tr": "{path} sıradan bir dosya değil"},
    "readable_by_all": {"en": "{path} is readable by every user (mode {mode})",
                        "tr": "{path} her kullanıcı tarafından okunabiliyor (izinler {mode})"},
    "readable_by_group": {"en": "{path} is readable by its group (mode {mode})",
                          "tr": "{path} grubu tarafından okunabiliyor (izinler {mode})"},
    "unreadable": {"en": "{path} is not readable by this user (uid {uid})",
                   "tr": "{path} bu kullanıcı tarafından okunamıyor (uid {uid})"},
    "empty_file": {"en": "{path} is empty", "tr": "{path} boş"},
}


def phrase(text: Phrase, language: Language) -> str:
    """A validator phrase in `language`; phrases among its arguments are translated too.
    An unknown key shows the key and a missing argument the template: never a crash."""
    entry = CONFIG.get(text.key)
    if entry is None:
        return text.key
    args = {name: phrase(value, language) if isinstance(value, Phrase) else value
            for name, value in text.args}
    return fill(entry[language], args)


def fill(template: str, args: Mapping[str, object]) -> str:
    """`template` with its arguments; a missing one shows the template, never a crash."""
    try:
        return template.format(**args)
    except (KeyError, IndexError, ValueError):
        return template
