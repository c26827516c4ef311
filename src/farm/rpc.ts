/**
 * Request/response calls between members over the farm channel (envelope kind CONTROL).
 *
 * Used by the location service: "retrieve account information from the proper server"
 * (seed). Payloads are small JSON objects; the envelope authenticates them. A call that
 * gets no answer within its timeout resolves to undefined — the caller falls back.
 */
export interface RpcMessage {
  /** Operation name; replies carry `${op}.r`. */
  op: string;
  /** Call id, echoed in the reply. Absent for one-way messages. */
  id?: number;
  [k: string]: unknown;
}

export type RpcSend = (toMember: number, msg: RpcMessage) => void;
export type RpcHandler = (from: number, msg: RpcMessage) => Record<string, unknown> | undefined;

export class FarmRpc {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: RpcMessage | undefined) => void; timer: NodeJS.Timeout }>();
  private readonly handlers = new Map<string, RpcHandler>();
  counters = { calls: 0, timeouts: 0, served: 0, badMessages: 0 };

  constructor(private readonly send: RpcSend) {}

  on(op: string, handler: RpcHandler): void {
    this.handlers.set(op, handler);
  }

  call(toMember: number, op: string, body: Record<string, unknown>, timeoutMs: number): Promise<RpcMessage | undefined> {
    const id = this.nextId++;
    this.counters.calls++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.counters.timeouts++;
        resolve(undefined);
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, timer });
      try {
        this.send(toMember, { ...body, op, id });
      } catch {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(undefined);
      }
    });
  }

  /** Fire-and-forget message (e.g. replica push). */
  notify(toMember: number, op: string, body: Record<string, unknown>): void {
    this.send(toMember, { ...body, op });
  }

  /** Feed a verified CONTROL payload from `from`. */
  receive(from: number, payload: Uint8Array): void {
    let msg: RpcMessage;
    try {
      msg = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8')) as RpcMessage;
    } catch {
      this.counters.badMessages++;
      return;
    }
    if (typeof msg !== 'object' || msg === null || typeof msg.op !== 'string') {
      this.counters.badMessages++;
      return;
    }
    if (msg.op.endsWith('.r')) {
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(msg.id as number);
        p.resolve(msg);
      }
      return;
    }
    const h = this.handlers.get(msg.op);
    if (!h) {
      this.counters.badMessages++;
      return;
    }
    this.counters.served++;
    const reply = h(from, msg);
    if (reply !== undefined && typeof msg.id === 'number') this.send(from, { ...reply, op: `${msg.op}.r`, id: msg.id });
  }

  close(): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
  }
}
