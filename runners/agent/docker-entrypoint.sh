#!/bin/sh
# docker-compose demo runner: builds and uploads the emulated firmware, registers once, then runs.
set -eu
API="${HIL_API_URL:?set HIL_API_URL}"
TOKEN="${HIL_ADMIN_TOKEN:?set HIL_ADMIN_TOKEN}"
mkdir -p /runner/firmware
cat > /runner/lab.yaml <<YAML
name: compose-emulated-lab
boards:
  - { name: nrf-1, type: nrf52840dk, adapter: emulated }
  - { name: nrf-2, type: nrf52840dk, adapter: emulated }
YAML
node runners/emulator/bin/hil-emulator.js build-firmware --out /runner/firmware
node -e '
const fs = require("fs");
const [api, token] = process.argv.slice(1);
(async () => {
  for (const fw of JSON.parse(fs.readFileSync("/runner/firmware/manifest.json", "utf8"))) {
    const q = new URLSearchParams({ name: fw.name, kind: fw.kind, sha256: fw.sha256, boardType: fw.boardType });
    const r = await fetch(`${api}/api/v1/artifacts?${q}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" }, body: fs.readFileSync(`/runner/firmware/${fw.file}`) });
    if (!r.ok) throw new Error(`upload ${fw.name}: ${r.status} ${await r.text()}`);
  }
  if (!fs.existsSync("/runner/runner-credentials.json")) {
    const r = await fetch(`${api}/api/v1/registration-tokens`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
    fs.writeFileSync("/runner/registration-token", (await r.json()).token);
  }
})().catch((e) => { console.error(e.message); process.exit(1); });
' "$API" "$TOKEN"
if [ ! -f /runner/runner-credentials.json ]; then
  node runners/agent/bin/hil-runner.js register --url "$API" --token "$(cat /runner/registration-token)" --config /runner/lab.yaml
fi
exec node runners/agent/bin/hil-runner.js start --config /runner/lab.yaml
