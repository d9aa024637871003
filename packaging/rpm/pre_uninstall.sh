# On erase (not upgrade) stop the service; the configuration and /var/lib/wasp are kept.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now wasp.service >/dev/null 2>&1 || :
fi
