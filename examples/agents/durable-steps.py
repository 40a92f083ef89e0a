#!/usr/bin/env python3
"""A durable process agent with no SDK (Python 3, standard library only): five steps, each
appending a line to the file named by DURABLE_STEPS_FILE and then working for a second. Kill
the daemon at any point: when it comes back the run goes on, and finished steps are not done
again (docs/agent-protocol.md, "Durable runs").

  DURABLE_STEPS_FILE  where each step appends "<step> <idempotencyKey>" (default ./durable-steps.txt)
  DURABLE_STEPS       how many steps (default 5)
  DURABLE_WORK_MS     how long each step works after its side effect (default 1000)
"""
import datetime
import json
import os
import sys
import time

FILE = os.environ.get("DURABLE_STEPS_FILE", "durable-steps.txt")
STEPS = int(os.environ.get("DURABLE_STEPS", "5"))
WORK_S = int(os.environ.get("DURABLE_WORK_MS", "1000")) / 1000


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def receive():
    line = sys.stdin.readline()
    if line == "":
        sys.exit(0)  # the kernel went away: it starts us again later
    return json.loads(line)


run = receive()  # {"type":"run","runId","input","attempt"}
sys.stderr.write("run %s, execution %s\n" % (run["runId"], run["attempt"]))

results = []
for i in range(1, STEPS + 1):
    key = "step-%d" % i
    send({"type": "step", "key": key})
    reply = receive()
    if reply["type"] == "step.run":
        # Not recorded yet: do the work, then report its result.
        with open(FILE, "a") as f:
            f.write("%s %s\n" % (key, reply["idempotencyKey"]))
        time.sleep(WORK_S)
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        send({"type": "step.result", "key": key, "result": {"step": i, "at": now}})
        reply = receive()
    if reply["type"] != "step.recorded":
        send({"type": "error", "message": "step %s: unexpected %s" % (key, reply["type"])})
        sys.exit(1)
    results.append(reply["result"])

send({"type": "result", "value": {"steps": len(results), "input": run["input"]}})
