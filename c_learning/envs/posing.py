"""Posing a copy of a MuJoCo simulation at a goal, for goal frames: the state copied, a mocap-held point pulled there."""
import mujoco
import numpy as np

# Pulling a point to its goal: simulation steps at most, the distance (m) to
# the goal that is there, and the step (m) below which the point has stopped
# short of it (as near as the arm's joint limits let it come).
MAX_STEPS = 100
TOLERANCE = 1e-3
SETTLED = 2e-5


def copy_state(model, source, target):
  """Sets MjData `target` to `source`'s integration state (positions, velocities, controls, mocaps)."""
  spec = mujoco.mjtState.mjSTATE_INTEGRATION
  state = np.empty(mujoco.mj_stateSize(model, spec))
  mujoco.mj_getState(model, source, state, spec)
  mujoco.mj_setState(model, target, state, spec)


def pull_with_mocap(model, scene, mocap_body, mocap_pos, point, goal, substeps):
  """Steps MjData `scene` with its mocap at mocap_pos until point(scene) (an xyz) is at `goal`, or stops.

  The arm follows the mocap as its actions move it. Contacts are off while it
  moves, so it goes straight there, never caught on the table or pushing an
  object; a stiff weld pulls it there in tens of steps, not hundreds, and
  closer (the models' soft ones leave it a few mm low under gravity). The
  model's settings are put back after.
  """
  mocap = model.body_mocapid[model.body(mocap_body).id]
  scene.mocap_pos[mocap] = mocap_pos
  scene.mocap_quat[mocap] = (1.0, 0.0, 1.0, 0.0)
  saved_flags, saved_solref = model.opt.disableflags, model.eq_solref.copy()
  model.opt.disableflags = saved_flags | mujoco.mjtDisableBit.mjDSBL_CONTACT
  model.eq_solref[:] = (2 * model.opt.timestep, 1.0)  # the stiffest MuJoCo integrates stably
  try:
    where = point(scene).copy()
    for _ in range(MAX_STEPS):
      mujoco.mj_step(model, scene, nstep=substeps)
      moved, where = np.linalg.norm(point(scene) - where), point(scene).copy()
      if np.linalg.norm(where - goal) < TOLERANCE or moved < SETTLED:
        break
  finally:
    model.opt.disableflags, model.eq_solref[:] = saved_flags, saved_solref
