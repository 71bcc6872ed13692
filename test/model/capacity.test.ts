import { describe, expect, it } from "vitest";
import { added, capacityExceeded, NO_USE, sharedServerConnections, useOf } from "../../model/capacity.ts";
import { resolvePlatformSettings } from "../../model/settings.ts";

describe("the fleet capacity model (issue 21, item 5)", () => {
  it("has documented defaults: 50 certificates a week, Azure's 10 public IPs, 600 load-balancer frontends, 250 DNS zones, 1718 connections less 15", () => {
    expect(resolvePlatformSettings().capacity).toEqual({
      certificatesPerWeek: 50, publicIpsPerSubscription: 10, loadBalancerFrontends: 600, dnsZonesPerSubscription: 250,
      sharedServerMaxConnections: 1718, sharedServerReservedConnections: 15,
    });
  });

  it("refuses limits that are not whole numbers of 0 or more, naming each", () => {
    expect(() => resolvePlatformSettings({ capacity: { certificatesPerWeek: -1, publicIpsPerSubscription: 2.5 } })).toThrow(
      /capacity\.certificatesPerWeek: must be a whole number, 0 or more.*capacity\.publicIpsPerSubscription: must be a whole number, 0 or more/s,
    );
  });

  it("takes each tier's shared-server connections from its pool or its role's limit", () => {
    expect(sharedServerConnections("free")).toBe(20);
    expect(sharedServerConnections("professional")).toBe(40);
    expect(sharedServerConnections("enterprise")).toBe(0);
  });

  it("counts what a tenant holds by the phases it reaches", () => {
    expect(useOf({ tier: "free", lastPhase: 1 })).toEqual(NO_USE);
    expect(useOf({ tier: "professional", lastPhase: 6 })).toEqual({ certificatesPerWeek: 0, publicIpsPerSubscription: 1, loadBalancerFrontends: 1, dnsZonesPerSubscription: 0, sharedServerConnections: 40 });
    expect(useOf({ tier: "free", lastPhase: 10 })).toEqual({ certificatesPerWeek: 1, publicIpsPerSubscription: 1, loadBalancerFrontends: 1, dnsZonesPerSubscription: 1, sharedServerConnections: 20 });
  });

  it("adds a certificate only when phase 8 is created, and never frees room within a request", () => {
    const free10 = useOf({ tier: "free", lastPhase: 10 });
    expect(added(free10, useOf({ tier: "professional", lastPhase: 10 }))).toEqual({ ...NO_USE, sharedServerConnections: 20 });
    expect(added(free10, useOf({ tier: "enterprise", lastPhase: 10 }))).toEqual(NO_USE);
    expect(added(useOf({ tier: "free", lastPhase: 7 }), free10)).toEqual({ ...NO_USE, certificatesPerWeek: 1 });
  });

  it("allows reaching a limit exactly, refuses crossing it, and 0 turns a limit off", () => {
    const settings = resolvePlatformSettings({ capacity: { dnsZonesPerSubscription: 2 } });
    const one = { ...NO_USE, dnsZonesPerSubscription: 1 };
    expect(capacityExceeded(settings, one, one)).toBeUndefined();
    expect(capacityExceeded(settings, { ...NO_USE, dnsZonesPerSubscription: 2 }, one)).toEqual({
      limit: "dnsZonesPerSubscription", setting: "capacity.dnsZonesPerSubscription", max: 2, current: 2, requested: 1,
      message: "capacity exceeded: public DNS zones held by tenants would go from 2 to 3, above the limit of 2 (capacity.dnsZonesPerSubscription=2); nothing was queued: wait until some are freed or raise the setting once the quota is raised",
    });
    const off = resolvePlatformSettings({ capacity: { dnsZonesPerSubscription: 0 } });
    expect(capacityExceeded(off, { ...NO_USE, dnsZonesPerSubscription: 5000 }, one)).toBeUndefined();
  });
});
