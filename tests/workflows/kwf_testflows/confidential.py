"""A workflow whose result, error and question carry a secret it derives (never in spec.input).

Input: `seed` (the secret is the seed reversed, plus "-SECRET"), `mode`: "return" (the result holds the
secret), "raise" (the exception message does) or "ask" (an InputRequiredEvent's prefix does; the answer
is returned), and optional `pad` (characters of padding added to the result, for size limits).
"""

from workflows import Context, Workflow, step
from workflows.events import HumanResponseEvent, InputRequiredEvent, StartEvent, StopEvent


def secret_of(seed: str) -> str:
    return f"{seed[::-1]}-SECRET"


class Confidential(Workflow):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @step
    async def begin(self, ctx: Context, ev: StartEvent) -> InputRequiredEvent | StopEvent:
        secret = secret_of(str(ev.get("seed")))
        await ctx.store.set("secret", secret)
        mode = ev.get("mode")
        if mode == "raise":
            raise ValueError(f"the vault refused {secret}")
        if mode == "ask":
            return InputRequiredEvent(prefix=f"confirm {secret}?")
        return StopEvent(result={"token": secret, "pad": "p" * int(ev.get("pad") or 0)})

    @step
    async def answered(self, ctx: Context, ev: HumanResponseEvent) -> StopEvent:
        return StopEvent(result={"answer": ev.response, "secret": await ctx.store.get("secret")})
