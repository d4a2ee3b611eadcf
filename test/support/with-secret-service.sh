#!/bin/sh
# Runs "$@" inside a private D-Bus session with a real, unlocked gnome-keyring Secret Service
# (Debian packages dbus, gnome-keyring, libsecret-tools). HOME must point at a writable directory:
# the keyring lives under it. Used by the keychain integration test; never a mock.
set -eu
exec dbus-run-session -- sh -c 'printf %s "test-keyring-password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "$@"' sh "$@"
