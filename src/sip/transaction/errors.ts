// Errors of the transaction layer, each with a stable `code` string.

export type TransactionErrorCode =
  | 'ERR_TX_NO_VIA' // request has no top Via / no branch where one is required
  | 'ERR_TX_BAD_REQUEST' // request lacks what matching needs (Call-ID, CSeq, From)
  | 'ERR_TX_DUPLICATE' // a client transaction with this branch and method is already live
  | 'ERR_TX_METHOD' // ACK cannot create a client transaction (§17.1: ACK for 2xx is the TU's)
  | 'ERR_TX_TRANSPORT'; // SendFn threw (§17.1.4 / §17.2.4)

export class TransactionError extends Error {
  readonly code: TransactionErrorCode;
  constructor(code: TransactionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransactionError';
    this.code = code;
  }
}
