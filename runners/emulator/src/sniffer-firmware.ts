/**
 * Nordic's "nRF Sniffer for 802.15.4" firmware on an nRF52840DK: a receive-only radio with a line-based serial
 * protocol (what its Wireshark extcap drives). Commands: `channel <11..26>`, `receive`, `sleep`. While receiving,
 * every frame the radio hears (FCS good or not) is printed as
 *
 *   received: <PSDU hex, FCS included> power: <dBm> lqi: <lqi> crc: <ok|bad> time: <us at frame start>
 *
 * It never transmits, so it also never sends the software ACKs a Tock board would: that is what lets a suite
 * observe the ACKs of the board under test.
 */
import { airtimeUs, fcsValid } from "./frame.ts";
import type { Radio } from "./radio.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Uart } from "./uart.ts";

export class SnifferFirmware {
  readonly #sched: Scheduler;
  readonly #uart: Uart;
  readonly #radio: Radio;
  #alive = true;
  #line = "";

  constructor(options: { sched: Scheduler; uart: Uart; radio: Radio }) {
    this.#sched = options.sched;
    this.#uart = options.uart;
    this.#radio = options.radio;
  }

  get alive(): boolean {
    return this.#alive;
  }

  boot(booted?: () => void): void {
    this.#radio.powerOff();
    this.#radio.autoAck = false;
    this.#radio.onReceive = (psdu) => {
      if (!this.#alive) return;
      // Timestamped at the start of the frame (the radio reports at its end).
      const time = Math.round(this.#sched.nowUs - airtimeUs(psdu.length));
      this.#write(
        `received: ${Buffer.from(psdu).toString("hex")} power: -50 lqi: 200 crc: ${fcsValid(psdu) ? "ok" : "bad"} time: ${time}\r\n`,
      );
    };
    this.#sched.after(10_000, () => {
      if (this.#alive) booted?.();
    });
  }

  stop(): void {
    this.#alive = false;
    this.#radio.powerOff();
    this.#radio.onReceive = undefined;
    this.#radio.autoAck = true;
  }

  hang(): void {
    this.stop();
  }

  input(text: string): void {
    for (const ch of text) {
      if (ch !== "\r" && ch !== "\n") {
        this.#line += ch;
        continue;
      }
      const [cmd = "", arg = ""] = this.#line.trim().split(/\s+/);
      this.#line = "";
      if (cmd === "") continue;
      if (cmd === "channel") {
        const ch = Number.parseInt(arg, 10);
        if (ch >= 11 && ch <= 26) {
          this.#radio.powerOff();
          this.#radio.channel = ch;
        }
      } else if (cmd === "receive") {
        this.#radio.powerOn();
      } else if (cmd === "sleep") {
        this.#radio.powerOff();
      }
    }
  }

  #write(text: string): void {
    this.#uart.write(new TextEncoder().encode(text));
  }
}
