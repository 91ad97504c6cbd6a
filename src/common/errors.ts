/**
 * One catalog of stable error codes. Callers and tests match on `code`, never on message text.
 * The API maps each code to an HTTP status through `httpStatus`.
 */
export const ERROR_CATALOG = {
  // registry
  MACHINE_NOT_FOUND: { httpStatus: 404, summary: 'no machine matches that id, name or MAC' },
  DUPLICATE_MAC: { httpStatus: 409, summary: 'that MAC already belongs to a machine' },
  DUPLICATE_NAME: { httpStatus: 409, summary: 'that machine name is taken' },
  INVALID_MAC: { httpStatus: 400, summary: 'not a valid 48-bit MAC address' },
  ILLEGAL_TRANSITION: { httpStatus: 409, summary: 'the machine cannot move from its state to the one asked' },
  NO_MATCHING_MACHINE: { httpStatus: 409, summary: 'no ready machine matches the constraints' },
  NOT_OWNER: { httpStatus: 403, summary: 'the machine is allocated to someone else' },
  LEASE_CONFLICT: { httpStatus: 409, summary: 'that address is leased to another client' },
  TOKEN_NOT_FOUND: { httpStatus: 404, summary: 'no such API token' },
  DB_MIGRATION_FAILED: { httpStatus: 500, summary: 'the database could not be migrated' },
  DB_NEWER_THAN_CODE: { httpStatus: 500, summary: 'the database was written by a newer bootrack' },
  // secrets
  SECRET_KEY_INVALID: { httpStatus: 500, summary: 'the secret key file is missing, unreadable or malformed' },
  SECRET_DECRYPT_FAILED: { httpStatus: 500, summary: 'a stored secret could not be decrypted with this key' },
  // config
  CONFIG_INVALID: { httpStatus: 500, summary: 'the configuration failed validation' },
  CONFIG_UNREADABLE: { httpStatus: 500, summary: 'the configuration file could not be read or parsed' },
  // input / API
  VALIDATION_FAILED: { httpStatus: 400, summary: 'the request failed validation' },
  BODY_TOO_LARGE: { httpStatus: 413, summary: 'the request body is too large' },
  UNAUTHENTICATED: { httpStatus: 401, summary: 'a valid bearer token is required' },
  FORBIDDEN: { httpStatus: 403, summary: 'the token may not do this' },
  ROUTE_NOT_FOUND: { httpStatus: 404, summary: 'no such route' },
  // boot / assets
  FILE_NOT_FOUND: { httpStatus: 404, summary: 'no such file' },
  PATH_REFUSED: { httpStatus: 403, summary: 'the path leaves the served root or is malformed' },
  IMAGE_MISSING: { httpStatus: 503, summary: 'the discovery image has not been built' },
  // power
  BMC_AUTH_FAILED: { httpStatus: 502, summary: 'the BMC refused the credentials' },
  BMC_UNREACHABLE: { httpStatus: 504, summary: 'the BMC did not answer in time' },
  BMC_BUSY: { httpStatus: 503, summary: 'the BMC is busy; retry later' },
  BMC_UNSUPPORTED: { httpStatus: 501, summary: 'the BMC does not support that operation' },
  BMC_ERROR: { httpStatus: 502, summary: 'the BMC returned an error' },
  POWER_NOT_CONFIGURED: { httpStatus: 409, summary: 'the machine has no power driver configured' },
  // provisioning
  UNKNOWN_DRIVER_SCHEME: { httpStatus: 400, summary: 'no driver is registered for that URL scheme' },
  INVALID_DRIVER_URL: { httpStatus: 400, summary: 'the driver URL is malformed' },
  TIMEOUT: { httpStatus: 504, summary: 'the operation did not finish before its deadline' },
  COMMAND_FAILED: { httpStatus: 500, summary: 'a remote command exited non-zero' },
  PRIVATE_KEY_NOT_FOUND: { httpStatus: 400, summary: 'the named private key was not found' },
  INTERNAL: { httpStatus: 500, summary: 'an unexpected internal error' },
} as const satisfies Record<string, { httpStatus: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export class BootrackError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BootrackError';
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].httpStatus;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isBootrackError(err: unknown, code?: ErrorCode): err is BootrackError {
  return err instanceof BootrackError && (code === undefined || err.code === code);
}
