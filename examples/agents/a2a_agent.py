"""An A2A agent built with the a2a-sdk: it answers every message with a forecast.

Its agent card (served at /.well-known/agent-card.json) carries the name and URL Shipyard gave it
(SHIPYARD_SERVICE, SHIPYARD_SERVICE_URL), which is what `health: {a2a: true}` checks.
"""

from __future__ import annotations

import os

import uvicorn
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.apps import A2AStarletteApplication
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import InMemoryTaskStore
from a2a.types import AgentCapabilities, AgentCard, AgentSkill
from a2a.utils import new_agent_text_message


class ForecastExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        question = context.get_user_input() or "the weather"
        await event_queue.enqueue_event(new_agent_text_message(f"sunny, whatever {question} is"))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        raise RuntimeError("nothing to cancel: answers are immediate")


def main() -> None:
    port = int(os.environ["PORT"])
    card = AgentCard(
        # AGENT_NAME lets a test make an agent claim another name than Shipyard gave it.
        name=os.environ.get("AGENT_NAME") or os.environ.get("SHIPYARD_SERVICE", "forecast"),
        description="Answers every question with a forecast.",
        url=os.environ.get("SHIPYARD_SERVICE_URL", f"http://127.0.0.1:{port}") + "/",
        version="1.0.0",
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text"],
        default_output_modes=["text"],
        skills=[
            AgentSkill(
                id="forecast",
                name="forecast",
                description="a forecast for anything",
                tags=["weather"],
            )
        ],
    )
    handler = DefaultRequestHandler(
        agent_executor=ForecastExecutor(), task_store=InMemoryTaskStore()
    )
    app = A2AStarletteApplication(agent_card=card, http_handler=handler).build()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
