#!/bin/sh
# Runs "$@" inside a private D-Bus session whose gnome-keyring Secret Service has a login keyring
# that is locked (created unlocked, then locked over D-Bus): writes need an unlock prompt, which
# nobody can answer here. HOME must point at a writable directory. Never a mock.
set -eu
exec dbus-run-session -- sh -c '
printf %s "test-keyring-password" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets \
  org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null
exec "$@"' sh "$@"
