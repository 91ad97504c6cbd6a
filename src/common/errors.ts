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
  IMAGE_PACKAGE_MISSING: { httpStatus: 500, summary: 'a Debian package the image builder needs is unknown to apt' },
  IMAGE_FETCH_FAILED: { httpStatus: 502, summary: 'the Debian package registry could not be reached to download a package' },
  IMAGE_BUILD_FAILED: { httpStatus: 500, summary: 'the discovery image could not be built (tool failed or a file is missing)' },
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
  HOST_KEY_MISMATCH: { httpStatus: 502, summary: 'the SSH host key differs from the pinned one' },
  SSH_CONNECT_FAILED: { httpStatus: 502, summary: 'the SSH connection or authentication failed' },
  DRIVER_API_ERROR: { httpStatus: 502, summary: 'the driver\'s remote API failed or answered unexpectedly' },
  DRIVER_LOAD_FAILED: { httpStatus: 500, summary: 'a third-party driver package could not be loaded' },
  DRIVER_NOT_IMPLEMENTED: { httpStatus: 501, summary: 'the driver does not implement that operation' },
  BATCH_FAILED: { httpStatus: 500, summary: 'one or more machines of a batch failed' },
  ENTRY_NOT_FOUND: { httpStatus: 404, summary: 'no saved managed entry of that type and name' },
  MACHINE_MOVE_UNSUPPORTED: { httpStatus: 409, summary: 'the machine belongs to another driver URL; destroy and recreate it' },
  CREDENTIALS_IN_REFERENCE: { httpStatus: 500, summary: 'a machine reference may not hold credentials' },
  MACHINE_SET_INVALID: { httpStatus: 400, summary: 'the machine-set file failed validation' },
  INTERNAL: { httpStatus: 500, summary: 'an unexpected internal error' },
  // dhcp
  DHCP_MALFORMED: { httpStatus: 400, summary: 'a DHCP message could not be decoded' },
  DHCP_ENCODE_FAILED: { httpStatus: 500, summary: 'a DHCP message could not be encoded' },
  DHCP_INTERFACE_UNAVAILABLE: { httpStatus: 500, summary: 'a configured DHCP interface is missing, has no IPv4 address or cannot be bound' },
  DHCP_CONFIG_INVALID: { httpStatus: 500, summary: 'the DHCP configuration is inconsistent' },
  // lldp (issue 7)
  LLDP_MALFORMED: { httpStatus: 400, summary: 'an LLDPDU could not be decoded' },
  LLDP_ENCODE_FAILED: { httpStatus: 500, summary: 'an LLDPDU could not be encoded' },
  // API / CLI client (issue 5)
  AGENT_TOKEN_REPLAYED: { httpStatus: 403, summary: 'this agent token already delivered facts; a new boot gets a new token' },
  API_UNREACHABLE: { httpStatus: 502, summary: 'the bootrack API could not be reached' },
  TLS_SETUP_FAILED: { httpStatus: 500, summary: 'the API TLS certificate could not be loaded or created' },
  // cloud and vagrant drivers (issue 9)
  CLOUD_SDK_MISSING: { httpStatus: 500, summary: 'the optional cloud SDK package is not installed' },
  CLOUD_AUTH_FAILED: { httpStatus: 502, summary: 'the cloud refused the credentials or their signature' },
  CLOUD_CAPACITY: { httpStatus: 503, summary: 'the cloud has no capacity for that instance type in that zone now' },
  CLOUD_THROTTLED: { httpStatus: 503, summary: 'the cloud throttled the request and retries ran out' },
  CLOUD_NOT_FOUND: { httpStatus: 404, summary: 'the cloud does not know that instance, key pair or image' },
  CLOUD_REQUEST_FAILED: { httpStatus: 502, summary: 'the cloud API answered an error not mapped to a more specific code' },
  VAGRANT_NOT_INSTALLED: { httpStatus: 500, summary: 'the vagrant binary (or its provider plugin) is not installed' },
  VAGRANT_COMMAND_FAILED: { httpStatus: 502, summary: 'a vagrant command exited non-zero' },
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
