"""The `pe` terminal console (Textual). This package holds its configuration and the
embedded-server manager; the screens land with the console issue."""
