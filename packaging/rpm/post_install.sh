mkdir -p /var/lib/wasp && chmod 0700 /var/lib/wasp
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then systemctl enable --now wasp.service >/dev/null 2>&1 || :; else systemctl try-restart wasp.service >/dev/null 2>&1 || :; fi
fi
