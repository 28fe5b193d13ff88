/**
 * Errors of the store. They are server-side faults, never a client's: on the wire they read
 * as INTERNAL, while `storeCode` keeps the stable, specific reason for logs and callers.
 */
import { TabswarmError } from '../../shared/errors.ts';

export type StoreErrorCode =
  /** the database was written by a newer server: refuse rather than corrupt it */
  | 'STORE_SCHEMA_TOO_NEW'
  /** a migration failed (the database keeps its previous version) */
  | 'STORE_MIGRATION'
  /** another server process holds the data directory */
  | 'STORE_LOCKED'
  /** a stored row does not decode (hand-edited or damaged database) */
  | 'STORE_CORRUPT';

export class StoreError extends TabswarmError {
  readonly storeCode: StoreErrorCode;
  constructor(storeCode: StoreErrorCode, message: string, cause?: unknown) {
    super('INTERNAL', `${storeCode}: ${message}`, cause === undefined ? undefined : { cause });
    this.name = 'StoreError';
    this.storeCode = storeCode;
  }
}
