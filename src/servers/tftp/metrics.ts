import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Metrics } from '../../common/metrics.js';
import type { TransferSummary } from './types.js';

/** Prometheus metrics of the TFTP server, registered on the daemon's registry (or a private one). */
export class TftpMetrics {
  readonly transfers: Counter<'outcome'>;
  readonly bytes: Counter;
  readonly retransmits: Counter;
  readonly ignoredAcks: Counter;
  readonly duration: Histogram<'outcome'>;
  readonly active: Gauge;
  readonly malformed: Counter<'socket'>;
  readonly rejected: Counter<'reason'>;

  constructor(registry: Metrics = new Registry()) {
    const registers = [registry];
    this.transfers = new Counter({ name: 'bootrack_tftp_transfers_total', help: 'TFTP read transfers by outcome', labelNames: ['outcome'], registers });
    this.bytes = new Counter({ name: 'bootrack_tftp_bytes_sent_total', help: 'TFTP payload bytes acknowledged by clients', registers });
    this.retransmits = new Counter({ name: 'bootrack_tftp_retransmits_total', help: 'TFTP packets resent after a timeout or a window gap', registers });
    this.ignoredAcks = new Counter({ name: 'bootrack_tftp_ignored_acks_total', help: 'duplicate or stale ACKs ignored (never answered)', registers });
    this.duration = new Histogram({
      name: 'bootrack_tftp_transfer_duration_seconds',
      help: 'TFTP transfer duration',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    });
    this.active = new Gauge({ name: 'bootrack_tftp_active_transfers', help: 'TFTP transfers in progress', registers });
    this.malformed = new Counter({ name: 'bootrack_tftp_malformed_datagrams_total', help: 'datagrams that failed to decode', labelNames: ['socket'], registers });
    this.rejected = new Counter({ name: 'bootrack_tftp_rejected_requests_total', help: 'requests refused before a transfer started', labelNames: ['reason'], registers });
  }

  ended(s: TransferSummary): void {
    this.transfers.inc({ outcome: s.outcome });
    this.bytes.inc(s.bytes);
    this.retransmits.inc(s.retransmits);
    this.ignoredAcks.inc(s.ignoredAcks);
    this.duration.observe({ outcome: s.outcome }, s.durationMs / 1000);
  }
}
