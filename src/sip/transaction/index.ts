// The RFC 3261 §17 transaction layer: import from here.

export { TransactionLayer, type TransactionLayerOptions } from './layer.js';
export type { TransactionUser } from './user.js';
export {
  ServerTransaction,
  type ServerTransactionState,
  type InviteServerState,
  type NonInviteServerState,
} from './server.js';
export {
  ClientTransaction,
  type ClientTransactionHandlers,
  type ClientTransactionState,
  type InviteClientState,
  type NonInviteClientState,
} from './client.js';
export { InviteServerTransaction, type AckDisposition } from './invite-server.js';
export { NonInviteServerTransaction } from './non-invite-server.js';
export { InviteClientTransaction } from './invite-client.js';
export { NonInviteClientTransaction } from './non-invite-client.js';
export type { TerminationReason, TimerName } from './transaction.js';
export { responseDestination, type Destination, type SendFn } from './transport.js';
export { buildNon2xxAck, buildCancel } from './hop-requests.js';
export { MAGIC_COOKIE, hasMagicCookie, sentBy, serverKey, server2543AckKey, clientKey, responseClientKey } from './key.js';
export { TransactionError, type TransactionErrorCode } from './errors.js';
export { newTransactionStats, type TransactionStats } from './stats.js';
export * from './timers.js';
export { TimerWheel, DEFAULT_TIMER_GRANULARITY_MS } from './timer-wheel.js';
