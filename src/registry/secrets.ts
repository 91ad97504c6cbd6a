import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { BootrackError } from '../common/errors.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT = 'v1';

/**
 * AES-256-GCM for secrets at rest (BMC credentials). The context (e.g. the machine id) is bound as
 * additional authenticated data, so a ciphertext copied onto another machine's row fails to open.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) {
      throw new BootrackError('SECRET_KEY_INVALID', `secret key must be ${KEY_BYTES} bytes, got ${key.length}`);
    }
    this.#key = Buffer.from(key);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${FORMAT}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    const [format, payload] = sealed.split(':', 2);
    const raw = payload === undefined ? Buffer.alloc(0) : Buffer.from(payload, 'base64');
    if (format !== FORMAT || raw.length < IV_BYTES + TAG_BYTES) {
      throw new BootrackError('SECRET_DECRYPT_FAILED', 'stored secret is not in a known format', { context });
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new BootrackError('SECRET_DECRYPT_FAILED', 'stored secret could not be decrypted: wrong key or tampered data', { context }, { cause: err });
    }
  }

  /** Never let the key reach a log line or a JSON dump. */
  toJSON(): string {
    return '[SecretBox]';
  }
}

/** Loads the key file, creating it with mode 0600 (exclusively, so two starters cannot race) if absent. */
export function loadOrCreateSecretKey(path: string): Buffer {
  try {
    return readKey(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw asKeyError(path, err);
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(KEY_BYTES).toString('base64') + '\n');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw asKeyError(path, err);
  }
  try {
    return readKey(path);
  } catch (err) {
    throw asKeyError(path, err);
  }
}

function readKey(path: string): Buffer {
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) {
    throw new BootrackError('SECRET_KEY_INVALID', `secret key file ${path} does not hold ${KEY_BYTES} base64 bytes`, { path });
  }
  return key;
}

function asKeyError(path: string, err: unknown): BootrackError {
  if (err instanceof BootrackError) return err;
  return new BootrackError('SECRET_KEY_INVALID', `cannot use secret key file ${path}: ${(err as Error).message}`, { path }, { cause: err });
}
