"""The domain services of one app process, wired once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from voting.auth.service import AuthService
from voting.auth.trust import TrustAnchors
from voting.ballots.service import CastService
from voting.board.service import Board
from voting.board.witnesses import Witnesses
from voting.db.engine import Database, make_engine
from voting.elections.service import ElectionService
from voting.keys import ServerKey, load_or_create
from voting.settings import Settings
from voting.startup import board_server_key_now
from voting.tally.service import TallyService


@dataclass
class Services:
    settings: Settings
    database: Database
    key: ServerKey
    auth: AuthService
    board: Board
    witnesses: Witnesses
    elections: ElectionService
    cast: CastService
    tally: TallyService

    @classmethod
    def build(cls, settings: Settings) -> Services:
        database = Database(make_engine(settings.db_url))
        key = load_or_create(settings.signing_key_path, board_key=lambda: board_server_key_now(settings.db_url))
        trust = TrustAnchors.from_settings(settings)
        board = Board(key, max_clock_skew_s=settings.max_clock_skew_s)
        elections = ElectionService(board, trust)
        return cls(
            settings=settings,
            database=database,
            key=key,
            auth=AuthService(settings, key, trust),
            board=board,
            witnesses=Witnesses(board, database),
            elections=elections,
            cast=CastService(board, database),
            tally=TallyService(board, elections),
        )
