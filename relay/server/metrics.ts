import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InboxStats } from './store/store.js';

/** The relay's Prometheus metrics, on their own registry (no process-global state). */
export class RelayMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'pairlink_relay_requests_total',
    help: 'HTTP requests and WebSocket operations, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'pairlink_relay_rejections_total',
    help: 'Refused requests by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'pairlink_relay_request_duration_seconds',
    help: 'Time to answer a request or WebSocket operation',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly sockets = new Gauge({
    name: 'pairlink_relay_websockets',
    help: 'Open WebSocket connections on this instance',
    registers: [this.registry],
  });
  readonly watches = new Gauge({
    name: 'pairlink_relay_watches',
    help: 'Mailbox watches held by WebSocket clients on this instance',
    registers: [this.registry],
  });
  readonly longPolls = new Gauge({
    name: 'pairlink_relay_long_polls',
    help: 'HTTP long-poll reads held open on this instance, waiting for a message',
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: 'pairlink_relay_messages_total',
    help: 'Messages stored',
    registers: [this.registry],
  });
  readonly pushes = new Counter({
    name: 'pairlink_relay_pushes_total',
    help: 'Messages pushed to watchers on this instance',
    registers: [this.registry],
  });
  readonly mailboxes: Gauge;
  readonly inboxes: Gauge;
  readonly inboxWriters: Gauge;
  readonly mailboxLimit = new Gauge({
    name: 'pairlink_relay_mailbox_limit',
    help: 'The global mailbox cap (maxMailboxes): creates past it get 503 (rejections reason mailbox_cap)',
    registers: [this.registry],
  });

  constructor(mailboxCount: () => Promise<number>, inboxStats: () => Promise<InboxStats>) {
    this.mailboxes = new Gauge({
      name: 'pairlink_relay_mailboxes',
      help: 'Mailboxes in the store, tombstones of deleted ones included (-1 when the store does not answer)',
      registers: [this.registry],
      async collect() {
        this.set(await mailboxCount().catch(() => -1));
      },
    });
    this.inboxes = new Gauge({
      name: 'pairlink_relay_inboxes',
      help: 'Live inboxes in the store, a subset of the mailboxes (-1 when the store does not answer)',
      registers: [this.registry],
      async collect() {
        this.set((await inboxStats().catch(() => null))?.inboxes ?? -1);
      },
    });
    this.inboxWriters = new Gauge({
      name: 'pairlink_relay_inbox_writers',
      help: 'Write capabilities of live inboxes, all inboxes together (-1 when the store does not answer)',
      registers: [this.registry],
      async collect() {
        this.set((await inboxStats().catch(() => null))?.writers ?? -1);
      },
    });
  }

  reject(reason: string): void {
    this.rejections.inc({ reason });
  }
}
