// The local cluster's load-balancer allocator: what a cloud controller does
// for Services of type LoadBalancer, minus the load balancer. Each such
// Service without an address gets one from 127.0.100.0/24 in
// status.loadBalancer.ingress; an address is free again once its Service is
// gone or changed type. Nothing listens on it: it is an address, as Azure's
// would be, for the program to read and wait for.
//
//   node lb-allocator.mjs <state folder of local-cluster.sh>
import https from "node:https";
import { readFileSync } from "node:fs";
import path from "node:path";

const state = process.argv[2];
if (!state) {
  console.error("usage: node lb-allocator.mjs <local cluster state folder>");
  process.exit(2);
}
const pki = path.join(state, "pki");
const server = new URL(readFileSync(path.join(state, "kubeconfig"), "utf8").match(/server: (\S+)/)[1]);
const tls = {
  ca: readFileSync(path.join(pki, "ca.crt")),
  cert: readFileSync(path.join(pki, "admin.crt")),
  key: readFileSync(path.join(pki, "admin.key")),
};
const POOL = Array.from({ length: 254 }, (_, i) => `127.0.100.${i + 1}`);

function call(method, urlPath, body, contentType = "application/json") {
  return new Promise((resolve, reject) => {
    const request = https.request(
      { hostname: server.hostname, port: server.port, path: urlPath, method, headers: body ? { "content-type": contentType } : {}, ...tls },
      (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => (response.statusCode < 300 ? resolve(JSON.parse(text)) : reject(new Error(`${method} ${urlPath}: ${response.statusCode} ${text.slice(0, 200)}`))));
      },
    );
    request.on("error", reject);
    request.end(body ? JSON.stringify(body) : undefined);
  });
}

async function allocateOnce() {
  const services = (await call("GET", "/api/v1/services")).items.filter((s) => s.spec.type === "LoadBalancer");
  const used = new Set(services.flatMap((s) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip)));
  for (const service of services) {
    if ((service.status?.loadBalancer?.ingress ?? []).length > 0) continue;
    const ip = POOL.find((candidate) => !used.has(candidate));
    if (!ip) {
      console.error(`no address left for ${service.metadata.namespace}/${service.metadata.name}`);
      continue;
    }
    used.add(ip);
    const { namespace, name } = service.metadata;
    await call("PATCH", `/api/v1/namespaces/${namespace}/services/${name}/status`, { status: { loadBalancer: { ingress: [{ ip, ipMode: "VIP" }] } } }, "application/merge-patch+json");
    console.error(`${namespace}/${name}: ${ip}`);
  }
}

for (;;) {
  try {
    await allocateOnce();
  } catch (error) {
    console.error(`allocator: ${error.message}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
}
