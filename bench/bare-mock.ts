/**
 * The floor a render is measured against: the bare Pulumi mock runtime
 * registering the same number of resources, in ten components chained by
 * dependsOn, with trivial mocks and nothing captured. What a render costs
 * above this is ours (the program, the capture, the redaction).
 */
import * as pulumi from "@pulumi/pulumi";

class Thing extends pulumi.CustomResource {
  constructor(name: string, props: Record<string, pulumi.Input<unknown>>, opts: pulumi.CustomResourceOptions) {
    super("bench:index:Thing", name, props, opts);
  }
}

class Phase extends pulumi.ComponentResource {
  constructor(name: string, resources: number, opts: pulumi.ComponentResourceOptions) {
    super("bench:index:Phase", name, {}, opts);
    let previous: Thing | undefined;
    for (let i = 0; i < resources; i++) {
      previous = new Thing(`${name}-thing-${i}`, { index: i, labels: { tenant: "bench", phase: name }, after: previous?.id ?? "" }, { parent: this });
    }
    this.registerOutputs({ last: previous?.id });
  }
}

export async function bareMockRuntime(resources: number, phases = 10): Promise<void> {
  await pulumi.runtime.setMocks({
    newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
    call: () => {
      throw new Error("no calls in the bare benchmark");
    },
  }, "bench", "bench", false);
  await pulumi.runtime.runInPulumiStack(async () => {
    let previous: Phase | undefined;
    for (let p = 0; p < phases; p++) {
      const count = Math.floor(resources / phases) + (p < resources % phases ? 1 : 0);
      previous = new Phase(`phase-${p + 1}`, count, previous ? { dependsOn: [previous] } : {});
    }
    return {};
  });
  await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}
