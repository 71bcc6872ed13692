/**
 * Moving a tenant's data between database servers for a tier change (issue 22):
 * the move and verify steps between expand and switch. A folder of its own, not
 * part of core/: it runs client tools and talks to tenant databases, which the
 * engine's bottom layer never does, and only the worker step that moves data needs it.
 */
export { INCOMPLETE_MARKER, moveTenantSchema, restoreList, type MoveRequest } from "./move.ts";
export { DatabaseMoveError, MOVE_STEPS, type MoveReport, type MoveStep, type PostgresEndpoint, type TableReport, type TargetState } from "./types.ts";
export { tableChecksums, STABLE_TEXT_SETTINGS } from "./inventory.ts";
export { ensureRole, freezeWrites, measureSchema, removeTenant, thawWrites, withAdmin } from "./targets.ts";
