/**
 * Errors of the SIP parsing layer (slow path only — the fast-path scanner never throws,
 * it returns a `Scan` status).
 *
 * Each error carries a stable `code` (for counters and tests) and the SIP status and
 * reason phrase a server should answer with when the bad message is a request
 * (RFC 3261 §8.2 / §16.3). For a bad response there is nobody to answer: drop it.
 */

/** Stable error codes. Tests and counters match on these, never on messages. */
export const SipErrorCode = {
  TOO_LARGE: 'ERR_SIP_TOO_LARGE',
  BAD_START_LINE: 'ERR_SIP_BAD_START_LINE',
  BAD_VERSION: 'ERR_SIP_BAD_VERSION',
  BAD_ENCODING: 'ERR_SIP_BAD_ENCODING',
  NO_END_OF_HEADERS: 'ERR_SIP_NO_END_OF_HEADERS',
  BAD_HEADER: 'ERR_SIP_BAD_HEADER',
  MISSING_HEADER: 'ERR_SIP_MISSING_HEADER',
  DUPLICATE_HEADER: 'ERR_SIP_DUPLICATE_HEADER',
  BAD_CSEQ: 'ERR_SIP_BAD_CSEQ',
  BAD_MAX_FORWARDS: 'ERR_SIP_BAD_MAX_FORWARDS',
  BAD_SCALAR: 'ERR_SIP_BAD_SCALAR',
  CONTENT_LENGTH: 'ERR_SIP_CONTENT_LENGTH',
  BAD_URI: 'ERR_SIP_BAD_URI',
  BAD_VIA: 'ERR_SIP_BAD_VIA',
  BAD_NAME_ADDR: 'ERR_SIP_BAD_NAME_ADDR',
  BAD_PARAMS: 'ERR_SIP_BAD_PARAMS',
  BAD_DATE: 'ERR_SIP_BAD_DATE',
} as const;
export type SipErrorCodeValue = (typeof SipErrorCode)[keyof typeof SipErrorCode];

export class SipParseError extends Error {
  /** Stable machine-readable code, one of `SipErrorCode`. */
  readonly code: string;
  /** SIP status to answer a bad request with (400, 505, 513, ...). */
  readonly status: number;
  /** Reason phrase for that answer, e.g. 'Bad Request - Missing Call-ID'. */
  readonly reason: string;

  constructor(code: string, message: string, status = 400, reason?: string) {
    super(message);
    this.name = 'SipParseError';
    this.code = code;
    this.status = status;
    this.reason = reason ?? defaultReason(status);
  }
}

function defaultReason(status: number): string {
  switch (status) {
    case 416: return 'Unsupported URI Scheme';
    case 505: return 'Version Not Supported';
    case 513: return 'Message Too Large';
    default: return 'Bad Request';
  }
}

/** Shorthand used by the parsers: a 400 with a specific reason phrase. */
export function badRequest(code: string, message: string, detail?: string): SipParseError {
  return new SipParseError(code, message, 400, detail === undefined ? 'Bad Request' : `Bad Request - ${detail}`);
}
