"""prevention actions: the library (seeded with our built-in actions) and the actions
residents say they took, with their acknowledgements

Revision ID: 0022
Revises: 0016
Create Date: 2026-12-01
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import app.db

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app.evidence.prevention as of this revision, frozen here: a migration seeds what it
# was written with (tests/evidence/test_prevention.py checks that the two agree, so
# that a change to the code comes with a migration of its own).
NAMESPACE = uuid.UUID("6f1c3a52-6d0e-4b8e-9a57-2f4b0c9d8e11")
SEEDED_AT = datetime(2026, 12, 1, tzinfo=UTC)
BUILT_IN: list[tuple[str, str, str | None]] = [
    ('burglary.lock-up', 'Lock doors and windows, even when you are at home or in the garden', None),
    ('burglary.lights', 'Leave a light on a timer when you are out after dark', None),
    ('burglary.shed', 'Lock sheds and garages, and mark your tools with your postcode', None),
    ('burglary.keys', 'Keep keys, including car keys, out of sight and away from the door', None),
    ('burglary.advice', "Read the police's home security advice", 'https://www.police.uk/pu/advice-crime-prevention/'),
    ('vehicle_crime.empty-car', 'Leave nothing on view in your car, not even a coat or a cable', None),
    ('vehicle_crime.lock-check', 'Check your car is locked: try the handle', None),
    ('vehicle_crime.keyless', 'Keep keyless fobs in a signal-blocking pouch', None),
    ('vehicle_crime.catalytic', 'Park near lights or against a wall to guard the catalytic converter', None),
    ('theft.bike-lock', 'Lock bikes to something fixed with a D-lock, frame and wheel', None),
    ('theft.mark', 'Mark and register valuables and bikes so they can be traced', None),
    ('theft.bags', 'Keep bags closed and in front of you in crowds', None),
    ('criminal_damage_arson.bins', 'Keep wheelie bins out of reach until collection day', None),
    ('criminal_damage_arson.report-damage', 'Report damage and graffiti quickly: repaired areas see less', None),
    ('criminal_damage_arson.alarms', 'Test smoke alarms and keep exits clear', None),
    ('anti_social_behaviour.record', 'Keep a dated record of what happens and when', None),
    ('anti_social_behaviour.report-101', 'Report it to the police on 101 or to the council', None),
    ('anti_social_behaviour.no-confront', 'Do not confront anyone; keep yourself safe', None),
    ('violence.call-999', 'If someone is in danger now, call 999', None),
    ('violence.stay-together', 'Walk with others and stay on lit, busy routes', None),
    ('violence.check-in', 'Check on neighbours who live alone', None),
    ('drugs.note-details', 'Note vehicles, times and descriptions, without approaching anyone', None),
    ('drugs.crimestoppers', 'Tell Crimestoppers anonymously on 0800 555 111', None),
    ('public_order.keep-away', 'Keep away from the trouble and keep children indoors', None),
    ('public_order.report-101', 'Report it to the police on 101, or 999 if anyone is at risk', None),
    ('suspicious_activity.describe', 'Note what you saw: people, vehicles, number plates and times', None),
    ('suspicious_activity.report', 'Report it to the police on 101, or 999 if a crime is happening', None),
    ('suspicious_activity.no-confront', 'Do not confront anyone; keep yourself safe', None),
    ('fraud_scam.check-id', 'Ask callers for ID and ring their company on a number you look up', None),
    ('fraud_scam.no-pressure', 'Never let anyone rush you into paying or giving details', None),
    ('fraud_scam.report-fraud', 'Report fraud to Action Fraud', 'https://www.actionfraud.police.uk/'),
    ('fraud_scam.tell-neighbours', 'Tell older neighbours about the scam', None),
    ('other.stay-alert', 'Stay alert and look out for your neighbours', None),
    ('other.report-101', 'Report what you see to the police on 101, or 999 in an emergency', None),
]


def upgrade() -> None:
    op.create_table('prevention_actions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('built_in', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_prevention_actions_created_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prevention_actions')),
    sa.UniqueConstraint('key', name=op.f('uq_prevention_actions_key'))
    )
    with op.batch_alter_table('prevention_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prevention_actions_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_prevention_actions_created_by'), ['created_by'], unique=False)

    op.create_table('alert_ack_actions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ack_id', sa.Uuid(), nullable=False),
    sa.Column('chain_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=210), nullable=False),
    sa.Column('action_id', sa.Uuid(), nullable=True),
    sa.Column('text', sa.String(length=200), nullable=False),
    sa.Column('created_at', app.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ack_id'], ['alert_acks.id'], name=op.f('fk_alert_ack_actions_ack_id_alert_acks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_ack_actions')),
    sa.UniqueConstraint('ack_id', 'key', name=op.f('uq_alert_ack_actions_ack_id'))
    )
    with op.batch_alter_table('alert_ack_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_ack_actions_chain_id'), ['chain_id'], unique=False)

    # Ids derived from the keys: the same in every database. One millisecond apart, in
    # the library's order, which is the order they are listed in.
    table = sa.table(
        'prevention_actions',
        sa.column('id', sa.Uuid()),
        sa.column('key', sa.String()),
        sa.column('category', sa.String()),
        sa.column('text', sa.String()),
        sa.column('url', sa.String()),
        sa.column('built_in', sa.Boolean()),
        sa.column('created_at', app.db.UTCDateTime(timezone=True)),
        sa.column('updated_at', app.db.UTCDateTime(timezone=True)),
    )
    op.bulk_insert(
        table,
        [
            {
                'id': uuid.uuid5(NAMESPACE, key),
                'key': key,
                'category': key.split('.')[0],
                'text': text,
                'url': url,
                'built_in': True,
                'created_at': SEEDED_AT + timedelta(milliseconds=i),
                'updated_at': SEEDED_AT + timedelta(milliseconds=i),
            }
            for i, (key, text, url) in enumerate(BUILT_IN)
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table('alert_ack_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_ack_actions_chain_id'))

    op.drop_table('alert_ack_actions')
    with op.batch_alter_table('prevention_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prevention_actions_created_by'))
        batch_op.drop_index(batch_op.f('ix_prevention_actions_category'))

    op.drop_table('prevention_actions')
