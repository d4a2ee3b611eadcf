/** Quotes one argument for an ExecStart= line (systemd's own quoting rules). */
export function quoteExecArg(arg: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/** An ExecStart=-style command line: `node bin args…`, each argument quoted as systemd reads it. */
export function execLine(node: string, bin: string, args: readonly string[]): string {
  return [node, bin, ...args].map(quoteExecArg).join(' ');
}

/**
 * The sandbox of every pairlink system service (agent, relay, bots): what `systemd-analyze
 * security` asks for, less what Node or the service needs. Node's JIT writes executable memory,
 * so MemoryDenyWriteExecute stays off; the services reach relays and chat servers anywhere, so
 * the network stays (AF_INET, AF_INET6) and no IP allow list is set; AF_UNIX is the agent's
 * socket. A filtered system call fails with EPERM instead of killing the process (Node probes
 * some, such as setrlimit at start, and carries on without them). Every file the service writes
 * is in its StateDirectory or RuntimeDirectory; everything else is read-only or hidden.
 * `bindLowPort`: the one capability a relay on port 443 needs, and nothing else.
 */
export function systemSandbox(options: { readonly bindLowPort?: boolean } = {}): string[] {
  const caps = options.bindLowPort ? 'CAP_NET_BIND_SERVICE' : '';
  return [
    `CapabilityBoundingSet=${caps}`,
    `AmbientCapabilities=${caps}`,
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'DevicePolicy=closed',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'ProcSubset=pid',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'KeyringMode=private',
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6',
    'SystemCallArchitectures=native',
    'SystemCallFilter=@system-service',
    'SystemCallFilter=~@privileged @resources',
    'SystemCallErrorNumber=EPERM',
  ];
}
