/**
 * The boot flight recorder: a machine's events (its id OR its MACs) → boots, each with its steps and
 * a verdict naming where it stopped. Pure: no I/O, no clock (the caller passes `now`).
 *
 * Event names the other parts emit (agreed by name):
 *   dhcp:  discover, offer, request, ack, nak
 *   tftp:  transfer_started, transfer_completed, transfer_failed — and, as the TFTP side records
 *          it, one `transfer` per ended transfer with data.outcome (complete, unconfirmed, timeout, …),
 *          `probe` (UEFI's tsize probe) and `refused`
 *   http:  script_served, asset_completed (data.path, or data.asset = '<area>/<file>')
 *   agent: booted, facts_stored, ssh_ready
 * Anything else (state, power, audit) is shown in the boot it happened in but decides nothing.
 */

export interface TimelineEvent {
  id: number;
  at: string;
  mac: string | null;
  kind: string;
  type: string;
  data: Record<string, unknown>;
}

/** Boot stages in the order a PXE boot passes them. */
export const STAGES = [
  'discover',
  'offer',
  'request',
  'ack',
  'boot_program_started',
  'boot_program_sent',
  'script',
  'kernel',
  'agent_booted',
  'facts',
  'ssh_ready',
] as const;
export type Stage = (typeof STAGES)[number];

/** What the verdict says when a boot's furthest stage is the key: the next step never came. */
const STALLS: Record<Stage, { stalledAt: string | null; verdict: string }> = {
  discover: { stalledAt: 'dhcp_offer', verdict: 'discover received but no offer sent' },
  offer: { stalledAt: 'dhcp_request', verdict: 'offer sent but no request' },
  request: { stalledAt: 'dhcp_ack', verdict: 'request received but no ack sent' },
  ack: { stalledAt: 'tftp', verdict: 'ack sent but no TFTP' },
  boot_program_started: { stalledAt: 'tftp_transfer', verdict: 'boot program transfer started but never completed' },
  boot_program_sent: { stalledAt: 'script', verdict: 'boot program sent but no script fetched' },
  script: { stalledAt: 'kernel', verdict: 'script served but no kernel fetched' },
  kernel: { stalledAt: 'agent_booted', verdict: 'kernel sent but no agent check-in' },
  agent_booted: { stalledAt: 'facts', verdict: 'agent booted but no facts' },
  facts: { stalledAt: 'ssh_ready', verdict: 'facts but no ssh_ready' },
  ssh_ready: { stalledAt: null, verdict: 'complete: agent reported ssh_ready' },
};

export interface TimelineStep {
  at: string;
  kind: string;
  type: string;
  mac: string | null;
  summary: string;
  data: Record<string, unknown>;
}

export interface Boot {
  startedAt: string;
  endedAt: string;
  /** The furthest stage reached. */
  reached: Stage;
  /** The step that never came (null when the boot completed). */
  stalledAt: string | null;
  verdict: string;
  /** The last event is younger than `stallAfterMs`: the boot may still be moving. */
  inProgress: boolean;
  steps: TimelineStep[];
}

export interface Timeline {
  boots: Boot[];
  /** Events before the first boot (enlistment, power actions). */
  before: TimelineStep[];
}

export interface TimelineOptions {
  /** A DISCOVER this long after the previous event starts a new boot. Default 60 s. */
  gapMs?: number;
  /** A boot whose last event is younger than this is "in progress". Default 120 s. */
  stallAfterMs?: number;
  now: Date;
}

/** The file an event is about: data.path (agreed), data.asset ('discovery/vmlinuz' from the boot HTTP side) or data.file. */
function pathOf(data: Record<string, unknown>): string {
  for (const key of ['path', 'asset', 'file']) if (typeof data[key] === 'string') return data[key] as string;
  return '';
}

/** TFTP outcomes that mean the client has the file (RFC 1350 §6: a lost final ACK still delivered it). */
const TFTP_DELIVERED = new Set(['complete', 'unconfirmed']);

/** A TFTP event that ended a transfer without the file: refused, timed out, errored. */
export function isTftpFailure(e: Pick<TimelineEvent, 'kind' | 'type' | 'data'>): boolean {
  if (e.kind !== 'tftp') return false;
  if (e.type === 'transfer_failed' || e.type === 'refused') return true;
  return e.type === 'transfer' && typeof e.data.outcome === 'string' && !TFTP_DELIVERED.has(e.data.outcome) && e.data.outcome !== 'probe';
}

/** The stage an event proves, or null when it proves none. */
export function stageOf(e: Pick<TimelineEvent, 'kind' | 'type' | 'data'>): Stage | null {
  const path = pathOf(e.data);
  switch (`${e.kind}:${e.type}`) {
    case 'dhcp:discover':
      return 'discover';
    case 'dhcp:offer':
      return 'offer';
    case 'dhcp:request':
      return 'request';
    case 'dhcp:ack':
      return 'ack';
    case 'tftp:transfer_started':
    case 'tftp:probe':
    case 'tftp:refused':
    case 'tftp:transfer_failed':
      return 'boot_program_started';
    case 'tftp:transfer_completed':
      return isKernel(path) ? 'kernel' : 'boot_program_sent';
    case 'tftp:transfer': {
      // The TFTP side records one event per ended transfer, with its outcome.
      const delivered = typeof e.data.outcome !== 'string' || TFTP_DELIVERED.has(e.data.outcome);
      if (!delivered) return 'boot_program_started';
      return isKernel(path) ? 'kernel' : 'boot_program_sent';
    }
    case 'http:script_served':
      return 'script';
    case 'http:asset_completed':
      if (isKernel(path)) return 'kernel';
      // UEFI HTTP boot fetches the iPXE program itself over HTTP instead of TFTP.
      if (/^\/?ipxe\//.test(path) || /\.(efi|kpxe|pxe)$/i.test(path)) return 'boot_program_sent';
      return null;
    case 'agent:booted':
      return 'agent_booted';
    case 'agent:facts_stored':
      return 'facts';
    case 'agent:ssh_ready':
      return 'ssh_ready';
    default:
      return null;
  }
}

function isKernel(path: string): boolean {
  const base = path.split('/').pop() ?? '';
  return /^(vmlinuz|bzimage|linux|kernel|image)([-._].*)?$/i.test(base);
}

const rank = (s: Stage): number => STAGES.indexOf(s);

export function buildTimeline(events: readonly TimelineEvent[], options: TimelineOptions): Timeline {
  const gapMs = options.gapMs ?? 60_000;
  const stallAfterMs = options.stallAfterMs ?? 120_000;
  const sorted = [...events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.id - b.id);
  const before: TimelineStep[] = [];
  const groups: Array<{ events: TimelineEvent[]; reached: Stage | null }> = [];
  let lastAt = Number.NEGATIVE_INFINITY;
  for (const e of sorted) {
    const at = Date.parse(e.at);
    const stage = stageOf(e);
    const current = groups[groups.length - 1];
    // A DISCOVER starts a new boot after a quiet gap, or once the previous boot already reached its
    // OS: iPXE's own DISCOVER seconds after the TFTP load, and the discovery kernel's, belong to the
    // same boot; a DISCOVER after the agent checked in is a reboot.
    const startsBoot =
      current === undefined
        ? stage !== null
        : stage === 'discover' && (at - lastAt >= gapMs || (current.reached !== null && rank(current.reached) >= rank('agent_booted')));
    if (startsBoot) groups.push({ events: [e], reached: stage });
    else if (current === undefined) before.push(stepOf(e));
    else {
      current.events.push(e);
      if (stage !== null && (current.reached === null || rank(stage) > rank(current.reached))) current.reached = stage;
    }
    lastAt = at;
  }
  const boots = groups.map((g): Boot => {
    const reached = g.reached ?? 'discover';
    const failed = g.events.some(isTftpFailure);
    const nak = g.events.some((e) => e.kind === 'dhcp' && e.type === 'nak');
    let { stalledAt, verdict } = STALLS[reached];
    if (reached === 'boot_program_started' && failed) verdict = 'boot program transfer failed';
    if (reached === 'request' && nak) verdict = 'request refused with a NAK';
    const last = g.events[g.events.length - 1]!;
    return {
      startedAt: g.events[0]!.at,
      endedAt: last.at,
      reached,
      stalledAt,
      verdict,
      inProgress: stalledAt !== null && options.now.getTime() - Date.parse(last.at) < stallAfterMs,
      steps: g.events.map(stepOf),
    };
  });
  return { boots, before };
}

function stepOf(e: TimelineEvent): TimelineStep {
  return { at: e.at, kind: e.kind, type: e.type, mac: e.mac, summary: summarize(e), data: e.data };
}

function summarize(e: TimelineEvent): string {
  const d = e.data;
  const str = (k: string): string | null => (typeof d[k] === 'string' || typeof d[k] === 'number' ? String(d[k]) : null);
  const parts = [`${e.kind} ${e.type}`];
  for (const key of ['ip', 'yiaddr', 'file', 'path', 'asset', 'outcome', 'bytes', 'error', 'status', 'action', 'to']) {
    const v = str(key);
    if (v !== null) parts.push(`${key}=${v}`);
  }
  return parts.join(' ');
}
