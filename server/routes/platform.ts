/**
 * The platform settings' versions (issue 23): the current one, which every
 * process uses, and the history of who changed what, when and why. Both are
 * read from the database per request, so two replicas answer alike.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { currentSettingsVersion, listSettingsVersions } from "../db/platform-settings.ts";
import { redactedSettings } from "../domain/platform-settings.ts";
import { listErrorResponses, PlatformSettingsVersion, PlatformSettingsVersions, SettingsVersionsQuery } from "../../api/schemas.ts";

const platformRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get("/api/v1/platform/settings", {
    config: { scope: "read" },
    schema: { summary: "The current platform settings version: its number, settings (secrets masked), and who recorded it, when and why", response: { 200: PlatformSettingsVersion, ...listErrorResponses } },
  }, async () => {
    const current = await currentSettingsVersion(fastify.db);
    // The service seeds version 1 before it serves; none here means the table was emptied under it.
    if (!current) throw new Error("no platform settings version in the database");
    return {
      version: current.version,
      settings: redactedSettings(current.settings) as unknown as Record<string, unknown>,
      createdAt: new Date(current.createdAt).toISOString(),
      createdBy: current.createdBy,
      reason: current.reason,
    };
  });

  fastify.get("/api/v1/platform/settings/versions", {
    config: { scope: "read" },
    schema: { summary: "The platform settings' versions, newest first, each with the paths it changed", querystring: SettingsVersionsQuery, response: { 200: PlatformSettingsVersions, ...listErrorResponses } },
  }, async (request) => {
    const { limit, offset } = request.query;
    const page = await listSettingsVersions(fastify.db, { limit, offset });
    return {
      items: page.items.map((v) => ({ version: v.version, createdAt: new Date(v.createdAt).toISOString(), createdBy: v.createdBy, reason: v.reason, changedPaths: v.changedPaths })),
      total: page.total,
      limit,
      offset,
    };
  });
};

export default platformRoutes;
