"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 22:15:45.863093
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('analytes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=True),
    sa.Column('misev_category', sa.String(length=2), nullable=True),
    sa.Column('default_unit', sa.String(length=32), nullable=True),
    sa.Column('synonyms', sa.JSON(), nullable=False),
    sa.CheckConstraint("misev_category IS NULL OR misev_category IN ('1', '2', '3', '4', '5')", name=op.f('ck_analytes_misev_category')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_analytes')),
    sa.UniqueConstraint('code', name=op.f('uq_analytes_code'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=256), nullable=False),
    sa.Column('old_values', sa.Text(), nullable=True),
    sa.Column('new_values', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_entity_audit_events_entity_id'), ['entity', 'entity_id'], unique=False)

    op.create_table('freezers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('temperature_c', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_freezers')),
    sa.UniqueConstraint('code', name=op.f('uq_freezers_code'))
    )
    op.create_table('import_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=512), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('user_name', sa.String(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('undone_at', sa.DateTime(), nullable=True),
    sa.Column('undone_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("status IN ('applied', 'undone')", name=op.f('ck_import_batches_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batches_sha256'), ['sha256'], unique=False)

    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studies')),
    sa.UniqueConstraint('code', name=op.f('uq_studies_code'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role IN ('viewer', 'technician', 'admin')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('name', name=op.f('uq_users_name'))
    )
    op.create_table('assay_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_code', sa.String(length=64), nullable=False),
    sa.Column('assay', sa.String(length=32), nullable=False),
    sa.Column('measured_on', sa.Date(), nullable=True),
    sa.Column('instrument', sa.String(length=128), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_assay_runs_batch_id_import_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assay_runs')),
    sa.UniqueConstraint('run_code', name=op.f('uq_assay_runs_run_code'))
    )
    with op.batch_alter_table('assay_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assay_runs_batch_id'), ['batch_id'], unique=False)

    op.create_table('cell_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('cell_type', sa.String(length=256), nullable=False),
    sa.Column('species', sa.String(length=128), nullable=True),
    sa.Column('tissue_origin', sa.String(length=128), nullable=True),
    sa.Column('donor', sa.String(length=128), nullable=True),
    sa.Column('passage', sa.Integer(), nullable=True),
    sa.Column('confluency_pct', sa.Float(), nullable=True),
    sa.Column('viability_pct', sa.Float(), nullable=True),
    sa.Column('culture_medium', sa.String(length=256), nullable=True),
    sa.Column('serum_condition', sa.String(length=64), nullable=True),
    sa.Column('conditioning_hours', sa.Float(), nullable=True),
    sa.Column('mycoplasma_result', sa.String(length=32), nullable=True),
    sa.Column('mycoplasma_tested_on', sa.Date(), nullable=True),
    sa.Column('authentication', sa.String(length=256), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('conditioning_hours IS NULL OR conditioning_hours >= 0', name=op.f('ck_cell_sources_conditioning')),
    sa.CheckConstraint('confluency_pct IS NULL OR (confluency_pct >= 0 AND confluency_pct <= 100)', name=op.f('ck_cell_sources_confluency')),
    sa.CheckConstraint('passage IS NULL OR passage >= 0', name=op.f('ck_cell_sources_passage')),
    sa.CheckConstraint('viability_pct IS NULL OR (viability_pct >= 0 AND viability_pct <= 100)', name=op.f('ck_cell_sources_viability')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_cell_sources_batch_id_import_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cell_sources')),
    sa.UniqueConstraint('code', name=op.f('uq_cell_sources_code'))
    )
    with op.batch_alter_table('cell_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cell_sources_batch_id'), ['batch_id'], unique=False)

    op.create_table('racks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('freezer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['freezer_id'], ['freezers.id'], name=op.f('fk_racks_freezer_id_freezers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_racks')),
    sa.UniqueConstraint('freezer_id', 'code', name=op.f('uq_racks_freezer_id_code'))
    )
    op.create_table('subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('subject_code', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('birth_year', sa.Integer(), nullable=True),
    sa.Column('group_name', sa.String(length=64), nullable=True),
    sa.Column('diagnosis', sa.String(length=256), nullable=True),
    sa.Column('enrolled_on', sa.Date(), nullable=True),
    sa.Column('consent', sa.String(length=16), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("consent IS NULL OR consent IN ('yes', 'no', 'withdrawn')", name=op.f('ck_subjects_consent')),
    sa.CheckConstraint("sex IS NULL OR sex IN ('F', 'M', 'O', 'U')", name=op.f('ck_subjects_sex')),
    sa.CheckConstraint('birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100', name=op.f('ck_subjects_birth_year')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_subjects_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_subjects_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('study_id', 'subject_code', name=op.f('uq_subjects_study_id_subject_code'))
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subjects_batch_id'), ['batch_id'], unique=False)

    op.create_table('boxes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rack_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=256), nullable=False),
    sa.Column('n_rows', sa.Integer(), nullable=False),
    sa.Column('n_cols', sa.Integer(), nullable=False),
    sa.CheckConstraint('n_rows >= 0 AND n_rows <= 26 AND n_cols >= 0 AND n_cols <= 99', name=op.f('ck_boxes_geometry')),
    sa.ForeignKeyConstraint(['rack_id'], ['racks.id'], name=op.f('fk_boxes_rack_id_racks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boxes')),
    sa.UniqueConstraint('path', name=op.f('uq_boxes_path')),
    sa.UniqueConstraint('rack_id', 'code', name=op.f('uq_boxes_rack_id_code'))
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_visits_subject_id_subjects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('subject_id', 'label', name=op.f('uq_visits_subject_id_label'))
    )
    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_code', sa.String(length=64), nullable=False),
    sa.Column('biofluid', sa.String(length=32), nullable=False),
    sa.Column('collected_at', sa.DateTime(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('cell_source_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('tube', sa.String(length=8), nullable=True),
    sa.Column('volume_ml', sa.Float(), nullable=True),
    sa.Column('processed_at', sa.DateTime(), nullable=True),
    sa.Column('pre_centrifugation_delay_min', sa.Float(), nullable=True),
    sa.Column('pre_centrifugation_temp', sa.String(length=16), nullable=True),
    sa.Column('spin1_g', sa.Float(), nullable=True),
    sa.Column('spin1_min', sa.Float(), nullable=True),
    sa.Column('spin1_temp_c', sa.Float(), nullable=True),
    sa.Column('spin1_brake', sa.String(length=16), nullable=True),
    sa.Column('spin2_g', sa.Float(), nullable=True),
    sa.Column('spin2_min', sa.Float(), nullable=True),
    sa.Column('spin2_temp_c', sa.Float(), nullable=True),
    sa.Column('spin2_brake', sa.String(length=16), nullable=True),
    sa.Column('post_centrifugation_delay_min', sa.Float(), nullable=True),
    sa.Column('post_centrifugation_temp', sa.String(length=16), nullable=True),
    sa.Column('storage_temp_c', sa.Float(), nullable=True),
    sa.Column('storage_container', sa.String(length=32), nullable=True),
    sa.Column('sprec', sa.String(length=32), nullable=True),
    sa.Column('fasting', sa.String(length=8), nullable=True),
    sa.Column('hemolysis', sa.String(length=16), nullable=True),
    sa.Column('a414', sa.Float(), nullable=True),
    sa.Column('urine_void', sa.String(length=32), nullable=True),
    sa.Column('protease_inhibitor', sa.String(length=8), nullable=True),
    sa.Column('box_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.String(length=8), nullable=True),
    sa.Column('freeze_thaw_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("biofluid <> 'conditioned_medium' OR cell_source_id IS NOT NULL", name=op.f('ck_samples_conditioned_medium_source')),
    sa.CheckConstraint("biofluid IN ('plasma', 'serum', 'whole_blood', 'urine', 'csf', 'saliva', 'conditioned_medium', 'other')", name=op.f('ck_samples_biofluid')),
    sa.CheckConstraint("status IN ('available', 'checked_out', 'consumed', 'discarded', 'shipped', 'missing')", name=op.f('ck_samples_status')),
    sa.CheckConstraint('freeze_thaw_count >= 0', name=op.f('ck_samples_freeze_thaw')),
    sa.CheckConstraint('parent_id IS NULL OR parent_id <> id', name=op.f('ck_samples_not_own_parent')),
    sa.CheckConstraint('position IS NULL OR box_id IS NOT NULL', name=op.f('ck_samples_position_in_box')),
    sa.CheckConstraint('post_centrifugation_delay_min IS NULL OR post_centrifugation_delay_min >= 0', name=op.f('ck_samples_post_delay')),
    sa.CheckConstraint('pre_centrifugation_delay_min IS NULL OR pre_centrifugation_delay_min >= 0', name=op.f('ck_samples_pre_delay')),
    sa.CheckConstraint('spin1_g IS NULL OR spin1_g > 0', name=op.f('ck_samples_spin1_g')),
    sa.CheckConstraint('spin2_g IS NULL OR spin2_g > 0', name=op.f('ck_samples_spin2_g')),
    sa.CheckConstraint('volume_ml IS NULL OR volume_ml >= 0', name=op.f('ck_samples_volume')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_samples_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['box_id'], ['boxes.id'], name=op.f('fk_samples_box_id_boxes')),
    sa.ForeignKeyConstraint(['cell_source_id'], ['cell_sources.id'], name=op.f('fk_samples_cell_source_id_cell_sources')),
    sa.ForeignKeyConstraint(['parent_id'], ['samples.id'], name=op.f('fk_samples_parent_id_samples')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_samples_subject_id_subjects')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_samples_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_samples')),
    sa.UniqueConstraint('box_id', 'position', name=op.f('uq_samples_box_id_position')),
    sa.UniqueConstraint('sample_code', name=op.f('uq_samples_sample_code'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_box_id'), ['box_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_cell_source_id'), ['cell_source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_visit_id'), ['visit_id'], unique=False)

    op.create_table('isolations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('isolation_code', sa.String(length=64), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('isolated_on', sa.Date(), nullable=False),
    sa.Column('method', sa.String(length=128), nullable=False),
    sa.Column('input_volume_ml', sa.Float(), nullable=False),
    sa.Column('kit', sa.String(length=256), nullable=True),
    sa.Column('kit_lot', sa.String(length=128), nullable=True),
    sa.Column('final_volume_ul', sa.Float(), nullable=True),
    sa.Column('resuspension_buffer', sa.String(length=128), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('final_volume_ul IS NULL OR final_volume_ul > 0', name=op.f('ck_isolations_final_volume')),
    sa.CheckConstraint('input_volume_ml > 0', name=op.f('ck_isolations_input_volume')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_isolations_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_isolations_sample_id_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_isolations')),
    sa.UniqueConstraint('isolation_code', name=op.f('uq_isolations_isolation_code'))
    )
    with op.batch_alter_table('isolations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_isolations_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_isolations_sample_id'), ['sample_id'], unique=False)

    op.create_table('isolation_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('isolation_id', sa.Integer(), nullable=False),
    sa.Column('step_no', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.CheckConstraint('step_no >= 1', name=op.f('ck_isolation_steps_step_no')),
    sa.ForeignKeyConstraint(['isolation_id'], ['isolations.id'], name=op.f('fk_isolation_steps_isolation_id_isolations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_isolation_steps')),
    sa.UniqueConstraint('isolation_id', 'step_no', name=op.f('uq_isolation_steps_isolation_id_step_no'))
    )
    op.create_table('readouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('isolation_id', sa.Integer(), nullable=True),
    sa.Column('analyte_id', sa.Integer(), nullable=False),
    sa.Column('assay', sa.String(length=32), nullable=False),
    sa.Column('run_code', sa.String(length=64), server_default=sa.text("''"), nullable=False),
    sa.Column('replicate', sa.Integer(), nullable=False),
    sa.Column('value_text', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('comparator', sa.String(length=2), nullable=False),
    sa.Column('censor', sa.String(length=16), nullable=False),
    sa.Column('qualitative', sa.String(length=16), nullable=True),
    sa.Column('unit', sa.String(length=32), nullable=True),
    sa.Column('lod', sa.Float(), nullable=True),
    sa.Column('lloq', sa.Float(), nullable=True),
    sa.Column('uloq', sa.Float(), nullable=True),
    sa.Column('antibody', sa.String(length=128), nullable=True),
    sa.Column('antibody_dilution', sa.String(length=32), nullable=True),
    sa.Column('lysis_buffer', sa.String(length=128), nullable=True),
    sa.Column('instrument', sa.String(length=128), nullable=True),
    sa.Column('measured_on', sa.Date(), nullable=True),
    sa.Column('qc', sa.String(length=16), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('batch_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("censor IN ('none', 'lt_lod', 'lt_lloq', 'gt_uloq', 'not_detected')", name=op.f('ck_readouts_censor')),
    sa.CheckConstraint("comparator IN ('=', '<', '<=', '>', '>=')", name=op.f('ck_readouts_comparator')),
    sa.CheckConstraint("qc IS NULL OR qc IN ('pass', 'fail', 'pending')", name=op.f('ck_readouts_qc')),
    sa.CheckConstraint("value IS NOT NULL OR qualitative IS NOT NULL OR censor <> 'none'", name=op.f('ck_readouts_has_result')),
    sa.CheckConstraint('replicate >= 1', name=op.f('ck_readouts_replicate')),
    sa.ForeignKeyConstraint(['analyte_id'], ['analytes.id'], name=op.f('fk_readouts_analyte_id_analytes')),
    sa.ForeignKeyConstraint(['batch_id'], ['import_batches.id'], name=op.f('fk_readouts_batch_id_import_batches')),
    sa.ForeignKeyConstraint(['isolation_id'], ['isolations.id'], name=op.f('fk_readouts_isolation_id_isolations')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_readouts_sample_id_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readouts'))
    )
    with op.batch_alter_table('readouts', schema=None) as batch_op:
        batch_op.create_index('ix_readouts_analyte_sample', ['analyte_id', 'sample_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_readouts_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index('ix_readouts_sample_analyte', ['sample_id', 'analyte_id'], unique=False)
        batch_op.create_index('uq_readouts_isolation_key', ['isolation_id', 'analyte_id', 'assay', 'run_code', 'replicate'], unique=True, sqlite_where=sa.text('isolation_id IS NOT NULL'), postgresql_where=sa.text('isolation_id IS NOT NULL'))
        batch_op.create_index('uq_readouts_sample_key', ['sample_id', 'analyte_id', 'assay', 'run_code', 'replicate'], unique=True, sqlite_where=sa.text('isolation_id IS NULL'), postgresql_where=sa.text('isolation_id IS NULL'))


    _create_audit_guards()

def downgrade() -> None:
    _drop_audit_guards()
    with op.batch_alter_table('readouts', schema=None) as batch_op:
        batch_op.drop_index('uq_readouts_sample_key', sqlite_where=sa.text('isolation_id IS NULL'), postgresql_where=sa.text('isolation_id IS NULL'))
        batch_op.drop_index('uq_readouts_isolation_key', sqlite_where=sa.text('isolation_id IS NOT NULL'), postgresql_where=sa.text('isolation_id IS NOT NULL'))
        batch_op.drop_index('ix_readouts_sample_analyte')
        batch_op.drop_index(batch_op.f('ix_readouts_batch_id'))
        batch_op.drop_index('ix_readouts_analyte_sample')

    op.drop_table('readouts')
    op.drop_table('isolation_steps')
    with op.batch_alter_table('isolations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_isolations_sample_id'))
        batch_op.drop_index(batch_op.f('ix_isolations_batch_id'))

    op.drop_table('isolations')
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_visit_id'))
        batch_op.drop_index(batch_op.f('ix_samples_subject_id'))
        batch_op.drop_index(batch_op.f('ix_samples_parent_id'))
        batch_op.drop_index(batch_op.f('ix_samples_cell_source_id'))
        batch_op.drop_index(batch_op.f('ix_samples_box_id'))
        batch_op.drop_index(batch_op.f('ix_samples_batch_id'))

    op.drop_table('samples')
    op.drop_table('visits')
    op.drop_table('boxes')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subjects_batch_id'))

    op.drop_table('subjects')
    op.drop_table('racks')
    with op.batch_alter_table('cell_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cell_sources_batch_id'))

    op.drop_table('cell_sources')
    with op.batch_alter_table('assay_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assay_runs_batch_id'))

    op.drop_table('assay_runs')
    op.drop_table('users')
    op.drop_table('studies')
    with op.batch_alter_table('import_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_batches_sha256'))

    op.drop_table('import_batches')
    op.drop_table('freezers')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_entity_audit_events_entity_id'))

    op.drop_table('audit_events')
    op.drop_table('analytes')


APPEND_ONLY = "audit trail is append-only"


def _create_audit_guards() -> None:
    """Database triggers that refuse UPDATE and DELETE on the audit trail."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )


def _drop_audit_guards() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
