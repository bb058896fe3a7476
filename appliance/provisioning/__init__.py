"""The room's provisioning file: its schema (`schema`), the checks across keys and on
this disk (`checks`), the problems as file, line and field (`report`), and the one
loader that reads it, keeps the last good copy and falls back to it (`loader`)."""
