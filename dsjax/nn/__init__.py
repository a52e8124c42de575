"""Neural-network building blocks shared by every dsjax model (recurrent cores)."""

from __future__ import annotations

from dsjax.nn.recurrent import (
    GRU,
    GRUStack,
    LSTM,
    Bidirectional,
    LSTMStack,
    gru_cell,
    gru_scan,
    lstm_cell,
    lstm_scan,
    reverse_sequences,
)

__all__ = [
    'GRU', 'GRUStack', 'LSTM', 'LSTMStack', 'Bidirectional', 'gru_cell', 'gru_scan', 'lstm_cell',
    'lstm_scan', 'reverse_sequences',
]
