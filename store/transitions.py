"""The one way a decision changes a row: a conditional UPDATE that only the first caller wins.

Two presses at once, two clocks, or a press racing a reassignment all reach the same row; the
conditions say what must still be true (still pending, still this owner, still this level), and
exactly one UPDATE matches. The loser's object is refreshed, so it can say what happened instead.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session


def transition(session: Session, obj, *conditions, **values) -> bool:
    """UPDATE obj's row SET values WHERE it still meets `conditions`; refresh obj; True if this call won."""
    model = type(obj)
    won = session.execute(
        update(model).where(model.id == obj.id, *conditions).values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    session.refresh(obj)
    return won
