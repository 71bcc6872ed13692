import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { ProgressBus } from "../live/progress-bus.ts";

declare module "fastify" {
  interface FastifyInstance {
    bus: ProgressBus;
  }
}

async function progressBusPlugin(fastify: FastifyInstance, opts: { databaseUrl: string }): Promise<void> {
  const bus = new ProgressBus({ pool: fastify.db, databaseUrl: opts.databaseUrl, onError: (err) => fastify.log.warn({ err }, "live progress channel problem") });
  await bus.start();
  fastify.decorate("bus", bus);
  fastify.addHook("onClose", async () => {
    await bus.close();
  });
}

export default fp(progressBusPlugin, { name: "matih-progress-bus", fastify: "5.x", dependencies: ["matih-database"] });
