/**
 * Model of `wifi_http`, the libtock-c WiFi HTTP example (published as a gist, notes 2025-11-10) as the nightly
 * builds it: init the WiFi driver and print the MAC, scan and print every SSID heard, join the lab network with
 * WPA2, get an address by DHCP over the tap-on-WiFi netif, then serve `GET /` with lwIP's httpd. Every line is
 * printed from an upcall or a received packet. `wifi_http_wrong_psk` is the same app built with another passphrase.
 */
import type { ProcessModel } from "../boards/kernel-core.ts";
import { dhcpClient } from "../net/dhcp.ts";
import { createNetif } from "../net/lwip.ts";
import { serveHttp } from "../net/lwip-net-test.ts";
import { ipString } from "../net/packets.ts";
import type { TapClient } from "../net/tap.ts";
import { LAB_PASSPHRASE, LAB_SSID } from "./access-point.ts";
import type { WifiSecurity } from "./cyw43-driver.ts";
import { WifiStatus, wifiStatusName } from "./cyw43-driver.ts";

export type WifiClient = {
  init(done: (status: number) => void): number;
  mac(): string | undefined;
  scan(result: (ssid: string) => void, done: (status: number) => void): number;
  join(ssid: string, security: WifiSecurity, passphrase: string, done: (status: number) => void): number;
};

export type WifiDrivers = { tap: TapClient | undefined; wifi: WifiClient | undefined };

export const JOIN_TIMEOUT_MS = 10_000;
export const DHCP_TIMEOUT_MS = 10_000;
export const INIT_TIMEOUT_MS = 5_000;
export const WRONG_PASSPHRASE = "not-the-lab-passphrase";

function wifiHttp(passphrase: string): ProcessModel<WifiDrivers> {
  return (ctx) => {
    const { wifi, tap } = ctx.drivers;
    if (!wifi || !tap) return void ctx.print("wifi: no WiFi driver\n");
    ctx.print("wifi_http: starting\n");
    let initDone = false;
    const rc = wifi.init(
      ctx.guard((status) => {
        initDone = true;
        if (status !== WifiStatus.SUCCESS) return void ctx.print(`wifi: init failed: ${wifiStatusName(status)}\n`);
        const mac = wifi.mac();
        if (!mac) return void ctx.print("wifi: init ok but no MAC address\n");
        ctx.print("wifi: init ok\n");
        ctx.print(`wifi: MAC ${mac}\n`);
        scan(mac);
      }),
    );
    if (rc !== WifiStatus.SUCCESS) return void ctx.print(`wifi: init command failed: ${wifiStatusName(rc)}\n`);
    ctx.after(INIT_TIMEOUT_MS, () => {
      if (!initDone) ctx.print(`wifi: init timed out after ${INIT_TIMEOUT_MS} ms\n`);
    });

    const scan = (mac: string): void => {
      let n = 0;
      const src = wifi.scan(
        ctx.guard((ssid) => {
          n++;
          ctx.print(`wifi: scan result "${ssid}"\n`);
        }),
        ctx.guard((status) => {
          ctx.print(`wifi: scan done (${wifiStatusName(status)}), ${n} networks\n`);
          join(mac);
        }),
      );
      if (src !== WifiStatus.SUCCESS) ctx.print(`wifi: scan refused: ${wifiStatusName(src)}\n`);
    };

    const join = (mac: string): void => {
      let finished = false;
      const start = ctx.nowMs();
      const rc = wifi.join(
        LAB_SSID,
        "wpa2",
        passphrase,
        ctx.guard((status) => {
          if (finished) return;
          finished = true;
          const ms = Math.round(ctx.nowMs() - start);
          if (status !== WifiStatus.SUCCESS)
            return void ctx.print(`wifi: join "${LAB_SSID}" failed: ${wifiStatusName(status)} after ${ms} ms\n`);
          ctx.print(`wifi: joined "${LAB_SSID}" (WPA2) in ${ms} ms\n`);
          dhcp(mac);
        }),
      );
      if (rc !== WifiStatus.SUCCESS) return void ctx.print(`wifi: join "${LAB_SSID}" refused: ${wifiStatusName(rc)}\n`);
      ctx.after(JOIN_TIMEOUT_MS, () => {
        if (finished) return;
        finished = true;
        ctx.print(`wifi: join "${LAB_SSID}" timed out after ${JOIN_TIMEOUT_MS} ms\n`);
      });
    };

    const dhcp = (mac: string): void => {
      const netif = createNetif(ctx, tap, mac, 0);
      const start = ctx.nowMs();
      dhcpClient(
        netif.stack,
        {
          xid: (ctx.pid + 1) * 0x01010101,
          retryMs: 1000,
          timeoutMs: DHCP_TIMEOUT_MS,
          after: (ms, fn) => ctx.after(ms, fn),
          nowMs: () => ctx.nowMs(),
        },
        ctx.guard((lease) => {
          if (!lease) return void ctx.print(`dhcp: no lease after ${DHCP_TIMEOUT_MS} ms\n`);
          const prefix = [...(lease.mask >>> 0).toString(2)].filter((b) => b === "1").length;
          ctx.print(
            `dhcp: lease ${ipString(lease.ip)}/${prefix} router ${ipString(lease.router)} in ${Math.round(ctx.nowMs() - start)} ms\n`,
          );
          serveHttp(ctx, netif.stack);
          ctx.print(`httpd: listening on ${ipString(lease.ip)}:80\n`);
          netif.stack.announce();
        }),
      );
    };
  };
}

export const wifiHttpModel = wifiHttp(LAB_PASSPHRASE);
export const wifiHttpWrongPskModel = wifiHttp(WRONG_PASSPHRASE);
