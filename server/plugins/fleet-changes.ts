import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { previewingFleetChangeIds, unfinishedRolloutIds } from "../db/fleet-changes.ts";
import { FleetPreviewQueue, RolloutQueue } from "../db/fleet-rollout-queue.ts";
import { FleetChangeService, type FleetChangeDeps } from "../domain/fleet-changes.ts";
import { rolloutMessage, RolloutDriver, type RolloutMessage } from "../domain/fleet-rollout.ts";
import type { LiveMessage } from "../live/progress-bus.ts";
import type { AdmissionLimits } from "../domain/admission.ts";

declare module "fastify" {
  interface FastifyInstance {
    fleetChanges: FleetChangeService;
    rollouts: RolloutDriver;
  }
}

export interface FleetChangesPluginOptions {
  /** This process's settings: its own cluster connection goes with the proposed settings into a fleet preview. */
  settings: PlatformSettings;
  maxAttempts: number;
  changeTtlHours: number;
  requireSeparateApprover: boolean;
  /** Advance rollouts in this process; false for an API-only process. */
  worker: boolean;
  startWorkersOn?: "ready" | "listen";
  /** The pending-run limits a rollout's runs are held to. Default none. */
  limits?: AdmissionLimits;
  /** Tenants a background fleet preview previews at once (engines without a batch preview). Default 1. */
  fleetPreviewConcurrency?: number;
}

/**
 * Fleet changes through review and their rollouts: the service behind the
 * routes, the rollouts' queue on the run queue's pg-boss and, in worker
 * processes, the passes that advance them. Progress goes to the live bus
 * (every process's fleet stream, through NOTIFY).
 */
async function fleetChangesPlugin(fastify: FastifyInstance, opts: FleetChangesPluginOptions): Promise<void> {
  const queue = new RolloutQueue(fastify.runQueue.boss);
  await queue.start();
  const previewQueue = new FleetPreviewQueue(fastify.runQueue.boss);
  await previewQueue.start();
  // A background preview under way stops (its job is tried again by the next process) when this one closes.
  const closing = new AbortController();
  fastify.addHook("onClose", async () => closing.abort(new Error("the service is shutting down")));
  const publish = (message: RolloutMessage) => {
    fastify.bus.publish(message as unknown as LiveMessage).catch((err: Error) => fastify.log.warn({ err }, "could not publish a rollout message"));
  };
  const driver = new RolloutDriver({
    pool: fastify.db, runQueue: fastify.runQueue, rolloutQueue: queue, engine: fastify.engine,
    maxAttempts: opts.maxAttempts, changeTtlHours: opts.changeTtlHours, publish, ...(opts.limits ? { limits: opts.limits } : {}),
  });
  // The render engine has a batch fleet preview; the Pulumi engine previews each tenant's stack, in the background.
  const engine = fastify.engine as unknown as FleetChangeDeps["engine"];
  const service = new FleetChangeService({
    pool: fastify.db, engine, processSettings: opts.settings, queue, previewQueue, fleetPreviewConcurrency: opts.fleetPreviewConcurrency ?? 1,
    requireSeparateApprover: opts.requireSeparateApprover, onRolloutChanged: (r) => publish(rolloutMessage(r)),
  });
  fastify.decorate("rollouts", driver);
  fastify.decorate("fleetChanges", service);
  if (opts.worker) {
    fastify.addHook(opts.startWorkersOn === "listen" ? "onListen" : "onReady", async () => {
      await queue.work((rolloutId) => driver.tick(rolloutId));
      await previewQueue.work((changeId) => service.previewInBackground(changeId, closing.signal));
      // Each pass queues the next; should a chain have broken (a process killed between commit and send), it starts again here.
      for (const id of await unfinishedRolloutIds(fastify.db)) await queue.schedule(id);
      // Likewise a preview whose job was lost; one still queued or running makes this send a no-op (stately).
      for (const id of await previewingFleetChangeIds(fastify.db)) await previewQueue.schedule(id);
    });
  }
}

export default fp(fleetChangesPlugin, { name: "matih-fleet-changes", fastify: "5.x", dependencies: ["matih-run-queue", "matih-database", "matih-engine", "matih-progress-bus"] });
