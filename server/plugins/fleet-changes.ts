import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import type { PlatformSettings } from "../../model/settings.ts";
import { unfinishedRolloutIds } from "../db/fleet-changes.ts";
import { RolloutQueue } from "../db/fleet-rollout-queue.ts";
import { FleetChangeService, type FleetChangeDeps } from "../domain/fleet-changes.ts";
import { rolloutMessage, RolloutDriver, type RolloutMessage } from "../domain/fleet-rollout.ts";
import type { LiveMessage } from "../live/progress-bus.ts";

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
  const publish = (message: RolloutMessage) => {
    fastify.bus.publish(message as unknown as LiveMessage).catch((err: Error) => fastify.log.warn({ err }, "could not publish a rollout message"));
  };
  const driver = new RolloutDriver({
    pool: fastify.db, runQueue: fastify.runQueue, rolloutQueue: queue, engine: fastify.engine,
    maxAttempts: opts.maxAttempts, changeTtlHours: opts.changeTtlHours, publish,
  });
  // The render engine has a fleet preview; the Pulumi engine has none, and proposing a fleet change there says so.
  const engine = fastify.engine as unknown as FleetChangeDeps["engine"];
  fastify.decorate("rollouts", driver);
  fastify.decorate("fleetChanges", new FleetChangeService({
    pool: fastify.db, engine, processSettings: opts.settings, queue,
    requireSeparateApprover: opts.requireSeparateApprover, onRolloutChanged: (r) => publish(rolloutMessage(r)),
  }));
  if (opts.worker) {
    fastify.addHook(opts.startWorkersOn === "listen" ? "onListen" : "onReady", async () => {
      await queue.work((rolloutId) => driver.tick(rolloutId));
      // Each pass queues the next; should a chain have broken (a process killed between commit and send), it starts again here.
      for (const id of await unfinishedRolloutIds(fastify.db)) await queue.schedule(id);
    });
  }
}

export default fp(fleetChangesPlugin, { name: "matih-fleet-changes", fastify: "5.x", dependencies: ["matih-run-queue", "matih-database", "matih-engine", "matih-progress-bus"] });
