/**
 * The Node/V8 options `bootrack serve` runs with. Every launcher passes them: the bin's shebang
 * (src/cli/bootrack.ts), `npm start`, scripts/install.sh and systemd/bootrack.service
 * (test/cli/launchers.test.ts checks that they agree), and bench:dhcp runs its daemon with them.
 *
 * --max-semi-space-size=4: under a high allocation rate (a DHCP storm) V8 grows the young
 * generation to 16 MiB per semi-space. Each scavenge then stalled the socket loop for 4-12 ms. The
 * replies held up behind the stall left in one burst, which overflowed the client's receive queue.
 * With 4 MiB, perfdhcp at 7000 DORA/s lost 0-0.02 % instead of 0.5-0.75 %, at the same CPU per
 * exchange.
 */
export const DAEMON_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];

/** The daemon options this process was started without (`serve` logs them). */
export function missingDaemonOptions(execArgv: readonly string[] = process.execArgv): string[] {
  return DAEMON_NODE_OPTIONS.filter((option) => !execArgv.includes(option));
}
