import type { TenantRow } from "../db/tenants.ts";
import { ApiError } from "./errors.ts";

/**
 * Refuses (400) the deletion of an ACTIVE tenant without its slug as
 * confirmation, naming what to send.
 */
export function checkDeleteConfirmation(tenant: Pick<TenantRow, "slug" | "status">, confirm: string | true | undefined): void {
  if (tenant.status !== "ACTIVE" || confirm === true || confirm === tenant.slug) return;
  throw new ApiError(400, "confirmation_required", confirm === undefined || confirm === ""
    ? `deleting an ACTIVE tenant needs its slug as confirmation: send ?confirm=${tenant.slug} (or {"confirm": "${tenant.slug}"} in the body)`
    : `the confirmation ${JSON.stringify(confirm)} is not this tenant's slug; to delete it, confirm with ${tenant.slug}`);
}
