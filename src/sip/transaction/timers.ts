// Every transaction timer, derived from T1/T2/T4 in this one place.
// RFC 3261 §17 and Table 4 (Appendix A); Timers L and M from RFC 6026 §8.11.

export interface TimerConfig {
  /** RTT estimate (ms). RFC 3261 §17.1.1.1: default 500 ms. */
  t1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses (ms). Default 4 s. */
  t2: number;
  /** Maximum time a message stays in the network (ms). Default 5 s. */
  t4: number;
}

export const DEFAULT_TIMERS: Readonly<TimerConfig> = Object.freeze({ t1: 500, t2: 4000, t4: 5000 });

/** RFC 3261 Table 4: Timer D is "> 32 s for UDP", independent of our own T1. */
const TIMER_D_UDP_FLOOR = 32_000;

/** Timer A: INVITE request retransmit, initially T1, doubling (§17.1.1.2). Unreliable transports only. */
export function timerA(cfg: TimerConfig): number {
  return cfg.t1;
}

/** Timer B: INVITE transaction timeout, 64·T1 (§17.1.1.2). */
export function timerB(cfg: TimerConfig): number {
  return 64 * cfg.t1;
}

/**
 * Timer D: wait time for response retransmits in INVITE client Completed (§17.1.1.2).
 * At least 32 s on UDP — the server may keep retransmitting its final response for
 * 64·T1 of *its* T1 — and zero on reliable transports.
 */
export function timerD(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : Math.max(TIMER_D_UDP_FLOOR, 64 * cfg.t1);
}

/** Timer E: non-INVITE request retransmit, initially T1 (§17.1.2.2). Unreliable transports only. */
export function timerE(cfg: TimerConfig): number {
  return cfg.t1;
}

/** Timer F: non-INVITE transaction timeout, 64·T1 (§17.1.2.2). */
export function timerF(cfg: TimerConfig): number {
  return 64 * cfg.t1;
}

/** Timer G: INVITE final response retransmit, initially T1 (§17.2.1). Unreliable transports only. */
export function timerG(cfg: TimerConfig): number {
  return cfg.t1;
}

/** Timer H: wait time for ACK receipt, 64·T1 (§17.2.1). */
export function timerH(cfg: TimerConfig): number {
  return 64 * cfg.t1;
}

/** Timer I: wait time for ACK retransmits, T4 for UDP, 0 for reliable (§17.2.1). */
export function timerI(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : cfg.t4;
}

/** Timer J: wait time for non-INVITE request retransmits, 64·T1 for UDP, 0 for reliable (§17.2.2). */
export function timerJ(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : 64 * cfg.t1;
}

/** Timer K: wait time for response retransmits, T4 for UDP, 0 for reliable (§17.1.2.2). */
export function timerK(cfg: TimerConfig, reliable: boolean): number {
  return reliable ? 0 : cfg.t4;
}

/** Timer L: wait time for accepted INVITE request retransmits, 64·T1 (RFC 6026 §8.11). */
export function timerL(cfg: TimerConfig): number {
  return 64 * cfg.t1;
}

/** Timer M: wait time for retransmission of 2xx to INVITE, 64·T1 (RFC 6026 §8.11). */
export function timerM(cfg: TimerConfig): number {
  return 64 * cfg.t1;
}

/** Next Timer A interval: doubles without a cap (§17.1.1.2); Timer B ends it. */
export function nextTimerA(prev: number): number {
  return prev * 2;
}

/**
 * Next Timer E (§17.1.2.2) or Timer G (§17.2.1) interval: doubles, capped at T2.
 * In the non-INVITE client's Proceeding state Timer E is reset to T2 instead (use cfg.t2).
 */
export function nextCapped(prev: number, cfg: TimerConfig): number {
  return Math.min(prev * 2, cfg.t2);
}

/** All timer values for one transport kind, computed once per layer. */
export interface ResolvedTimers {
  readonly cfg: Readonly<TimerConfig>;
  /** False on reliable transports: Timers A, E and G are never set. */
  readonly retransmit: boolean;
  readonly A: number;
  readonly B: number;
  readonly D: number;
  readonly E: number;
  readonly F: number;
  readonly G: number;
  readonly H: number;
  readonly I: number;
  readonly J: number;
  readonly K: number;
  readonly L: number;
  readonly M: number;
}

export function resolveTimers(cfg: TimerConfig, reliable: boolean): ResolvedTimers {
  if (!(cfg.t1 > 0 && cfg.t2 >= cfg.t1 && cfg.t4 > 0)) {
    throw new RangeError(`invalid SIP timer config t1=${cfg.t1} t2=${cfg.t2} t4=${cfg.t4}`);
  }
  return Object.freeze({
    cfg: Object.freeze({ ...cfg }),
    retransmit: !reliable,
    A: timerA(cfg),
    B: timerB(cfg),
    D: timerD(cfg, reliable),
    E: timerE(cfg),
    F: timerF(cfg),
    G: timerG(cfg),
    H: timerH(cfg),
    I: timerI(cfg, reliable),
    J: timerJ(cfg, reliable),
    K: timerK(cfg, reliable),
    L: timerL(cfg),
    M: timerM(cfg),
  });
}
