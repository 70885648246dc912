"""Effectively-once side effects: a payment charged once even when its step runs twice.

The `charge` step may run again after a crash (it is in flight until its checkpoint lands). The
payment provider deduplicates by idempotency key, and `kube_workflows.idempotency_key()` is the same
on every run of the same step execution, so the customer is charged once.

A JSON-lines file stands in for the provider here (`ledger` in the input): each call is appended, and a
key that was seen before is not charged again, as Stripe's `Idempotency-Key` header behaves.
"""

import asyncio
import json
import os
from pathlib import Path

from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

from kube_workflows import idempotency_key


def charge_card(ledger: Path, key: str, amount: int) -> str:
    """The stand-in provider: charge `amount` once per key, return the charge id."""
    calls = [json.loads(line) for line in ledger.read_text().splitlines()] if ledger.exists() else []
    earlier = next((c for c in calls if c["key"] == key and c["charged"]), None)
    charge_id = earlier["id"] if earlier else f"ch_{sum(c['charged'] for c in calls) + 1}"
    call = {"key": key, "id": charge_id, "amount": amount, "charged": earlier is None}
    with ledger.open("a") as out:
        out.write(json.dumps({**call, "attempt": os.environ.get("KWF_ATTEMPT")}) + "\n")
    return charge_id


class Charged(Event):
    charge_id: str


class Payment(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def charge(self, ctx: Context, ev: StartEvent) -> Charged:
        ledger = Path(ev.get("ledger", "/tmp/ledger.jsonl"))
        charge_id = charge_card(ledger, idempotency_key(), int(ev.get("amount", 100)))
        await ctx.store.set("ledger", str(ledger))
        await asyncio.sleep(float(ev.get("delay", 0)))  # e.g. the rest of the step's work
        return Charged(charge_id=charge_id)

    @step
    async def receipt(self, ctx: Context, ev: Charged) -> StopEvent:
        ledger = Path(await ctx.store.get("ledger"))
        charged = [c for c in map(json.loads, ledger.read_text().splitlines()) if c["charged"]]
        return StopEvent(result={"charge": ev.charge_id, "charges": len(charged)})
