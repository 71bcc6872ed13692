/** What a database move takes and gives back. */

/** An administrative connection to one database (the shared server's tenant database, or a dedicated server's). */
export interface PostgresEndpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  /** A login that can create the schema, set the tenant role as owner and create large objects. */
  readonly user: string;
  /** Never logged, never put on a command line. */
  readonly password?: string;
  /** libpq sslmode; default "prefer". */
  readonly sslMode?: "disable" | "prefer" | "require" | "verify-ca" | "verify-full";
  /** Default 10. */
  readonly connectTimeoutSeconds?: number;
}

/** The steps of a move, in order; a failure names the one it happened in. */
export const MOVE_STEPS = ["preflight", "snapshot", "prepare-target", "copy", "large-objects", "verify", "finish"] as const;
export type MoveStep = (typeof MOVE_STEPS)[number];

/**
 * What a failed move left on the target. `untouched`: nothing was written.
 * `cleaned`: what was written is gone again (schema and large objects).
 * `marked-incomplete`: the cleanup could not run (the target went away); the
 * schema is there with the incomplete marker as its comment, and the next
 * move of the same schema removes it before it starts.
 */
export type TargetState = "untouched" | "cleaned" | "marked-incomplete";

export interface TableReport {
  /** Table name inside the schema. */
  readonly table: string;
  readonly rows: number;
  /** Bytes of the rows' text form (what the checksum reads), the same on both sides. */
  readonly bytes: number;
  /** md5 over the sorted md5 of each row's text form. */
  readonly checksum: string;
}

export interface SequenceReport {
  readonly sequence: string;
  /** The source's value when the snapshot was taken; the target's is at least this. */
  readonly lastValue: string;
  readonly isCalled: boolean;
}

export interface MoveReport {
  readonly schema: string;
  readonly tables: readonly TableReport[];
  readonly sequences: readonly SequenceReport[];
  readonly largeObjects: { readonly count: number; readonly bytes: number };
  /** Sum of the tables' rows. */
  readonly rows: number;
  /** What went over the wire to the target: the dump archive plus the large objects' contents. */
  readonly bytesMoved: number;
  readonly durationMs: number;
  /** Milliseconds per step. */
  readonly steps: Readonly<Partial<Record<MoveStep, number>>>;
  /** Major versions: the source and target servers and the client tools. */
  readonly versions: { readonly source: number; readonly target: number; readonly client: number };
}

export class DatabaseMoveError extends Error {
  override readonly name = "DatabaseMoveError";
  readonly step: MoveStep;
  readonly targetState: TargetState;
  constructor(step: MoveStep, targetState: TargetState, message: string, options?: { cause?: unknown }) {
    super(`database move failed in step ${step} (target ${targetState}): ${message}`, options);
    this.step = step;
    this.targetState = targetState;
  }
}
