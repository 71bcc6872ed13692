import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import type { BackupRow } from "../db/backups.ts";
import { TenantBackups } from "../domain/tenant-backups.ts";
import { ChangeRequested, errorResponse, errorResponses, TenantParams } from "../../api/schemas.ts";
import { changeJson, changeLocation } from "./change-json.ts";

export const Backup = Type.Object({
  id: Type.String({ format: "uuid" }),
  tenantId: Type.String({ format: "uuid" }),
  runId: Type.Union([Type.String({ format: "uuid" }), Type.Null()], { description: "The teardown, rollback or update run it was taken before; null for one taken on demand or before a restore" }),
  reason: Type.Union([Type.Literal("teardown"), Type.Literal("rollback"), Type.Literal("destructive-change"), Type.Literal("manual"), Type.Literal("before-restore")], { description: "Why it was taken" }),
  requestedBy: Type.String({ description: "Who asked for what it was taken for" }),
  schemaName: Type.String({ description: "The schema dumped (tenant_{slug})" }),
  source: Type.String({ description: "host:port/database it was dumped from" }),
  store: Type.Union([Type.Literal("local"), Type.Literal("azure")]),
  location: Type.String({ description: "Where the dump is: a file of the local backup folder, or a blob URL (no SAS token)" }),
  sizeBytes: Type.Integer({ minimum: 0 }),
  sha256: Type.String({ pattern: "^[0-9a-f]{64}$", description: "sha256 of the dump file, checked again before a restore" }),
  format: Type.Literal("pg_dump custom"),
  createdAt: Type.String({ format: "date-time" }),
  expiresAt: Type.String({ format: "date-time", description: "Kept until then (MATIH_BACKUP_RETENTION_DAYS), then its file is deleted" }),
  removedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()], { description: "When its file was deleted; the record stays" }),
});

const BackupList = Type.Object({ items: Type.Array(Backup), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });
const BackupQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  offset: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 }),
}, { additionalProperties: false });
const RestoreBody = Type.Object({
  backupId: Type.String({ format: "uuid", description: "A backup of this tenant, or of a deleted tenant" }),
  skipBackup: Type.Optional(Type.Boolean({ description: "Restore without first backing up what the restore replaces (part of what the reviewer approves; recorded in the audit log)" })),
}, { additionalProperties: false });
const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
export const backupJson = (b: BackupRow) => ({
  ...b, format: "pg_dump custom" as const, createdAt: iso(b.createdAt)!, expiresAt: iso(b.expiresAt)!, removedAt: iso(b.removedAt),
});

/** A tenant's backups: the list, a backup now, and a restore request (performed when approved, with the change routes). */
const backupRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const actions = new TenantBackups({ pool: fastify.db, backups: fastify.backups });
  const who = (request: { principal: { name: string } | null }) => request.principal?.name ?? "anonymous";

  fastify.get("/api/v1/tenants/:id/backups", {
    config: { scope: "read" },
    schema: {
      summary: "The tenant's backups, newest first: when, why, size, sha256, where, until when they are kept",
      params: TenantParams, querystring: BackupQuery,
      response: { 200: { ...BackupList, description: "A page of backups" }, ...errorResponses },
    },
  }, async (request) => {
    const { items, total } = await actions.list(request.params.id, request.query);
    return { items: items.map(backupJson), total, limit: request.query.limit, offset: request.query.offset };
  });

  fastify.post("/api/v1/tenants/:id/backups", {
    config: { scope: "admin" },
    schema: {
      summary: "Back the tenant's database up now",
      description: "Takes no body. A custom-format pg_dump of the tenant's schema into the backup store, recorded with reason `manual`.",
      params: TenantParams,
      response: {
        201: { ...Backup, description: "The backup taken" },
        ...errorResponses,
        409: errorResponse("The tenant is DELETED, or this service has no database of it to dump (`nothing_to_back_up`: the render engine, or an enterprise tenant's dedicated server)"),
        502: errorResponse("The backup could not be taken (`backup_failed`): the tenant database or the backup store did not answer"),
      },
    },
  }, async (request, reply) => reply.code(201).send(backupJson(await actions.backupNow(request.params.id, who(request)))));

  fastify.post("/api/v1/tenants/:id/restore", {
    config: { scope: "admin" },
    schema: {
      summary: "Ask for a backup to be restored into the tenant's current database; it awaits review like a change",
      description: "Nothing is restored yet: the restore is recorded as a change of kind `restore`, PENDING_REVIEW, whose `requested` names the backup (id, when and why it was taken, size) and what it replaces; an admin approves it with POST /api/v1/tenants/{id}/changes/{changeId}/approve (another admin when MATIH_REQUIRE_SEPARATE_APPROVER is on), which performs it, or rejects it. Refused now for what its approval would refuse: the tenant must be ACTIVE or FAILED with no run in progress, and the backup this tenant's or a deleted tenant's, its file kept. On approval what the restore replaces is backed up first (reason `before-restore`) unless `skipBackup`; the schema is then replaced by the backup's in one transaction, so a failed restore changes nothing. The file's sha256 must match the recorded one. Asking again while a like request (same backup, same skipBackup) waits answers that request.",
      params: TenantParams, body: RestoreBody,
      response: {
        202: { ...ChangeRequested, description: "The restore request, awaiting review; the Location is the change" },
        ...errorResponses,
        404: errorResponse("No such tenant or backup"),
        409: errorResponse("The tenant is not ACTIVE or FAILED, a run is in progress, or the backup is another live tenant's or was removed by retention"),
      },
    },
  }, async (request, reply) => {
    const { change } = await fastify.changes.requestRestore(request.params.id, { backupId: request.body.backupId, ...(request.body.skipBackup !== undefined ? { skipBackup: request.body.skipBackup } : {}) }, who(request));
    return reply.code(202).header("location", changeLocation(change)).send(changeJson(change));
  });
};

export default backupRoutes;
