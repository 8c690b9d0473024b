"""MuJoCo rendering for the tasks' frames: fast agent renderers and full-quality video ones.

Renderer is a mujoco.Renderer safe to use beside other renderers and threads:
it releases its GL context after every frame and frees its GL objects in its
own context when closed. agent_renderer() makes one for agent frames (pixel
observations): no shadows, reflections, skybox or multisampling. A task keeps
its renderers in a TaskRenderers, which makes them on first use and closes
them all with the task.
"""
import mujoco

from c_learning import config

# Left out of agent frames: at 48x48 they add little but cost most of the
# render (OSMesa, 2 cores: 88 ms a 48x48 frame with them and multisampling,
# 4.5-7 ms without; benchmarks/rendering.py).
AGENT_FRAME_FLAGS_OFF = (mujoco.mjtRndFlag.mjRND_SHADOW,
                         mujoco.mjtRndFlag.mjRND_REFLECTION,
                         mujoco.mjtRndFlag.mjRND_SKYBOX)
GL_HELP = ('headless rendering needs MUJOCO_GL=osmesa with libOSMesa (apt-get install '
           'libosmesa6) or MUJOCO_GL=egl')


def release_gl_context(gl_context):
  """Makes no GL context current in this thread (`gl_context`'s backend says how)."""
  # pylint: disable=g-import-not-at-top  # each backend's module imports only where it works
  backend = type(gl_context).__module__
  if backend == 'mujoco.osmesa':
    from OpenGL import GL
    from OpenGL import osmesa
    osmesa.OSMesaMakeCurrent(None, None, GL.GL_FLOAT, 0, 0)
  elif backend == 'mujoco.egl':
    from mujoco import egl
    egl.EGL.eglMakeCurrent(egl.EGL_DISPLAY, egl.EGL.EGL_NO_SURFACE, egl.EGL.EGL_NO_SURFACE,
                           egl.EGL.EGL_NO_CONTEXT)
  elif backend == 'mujoco.glfw':
    import glfw
    glfw.make_context_current(None)


class Renderer(mujoco.Renderer):
  """A mujoco.Renderer whose close() frees its GL objects in its own GL context."""

  def render(self, *, out=None):
    try:
      return super().render(out=out)
    finally:
      # TFPyEnvironment steps tasks in TensorFlow's threads, so a frame may be
      # rendered in one thread and its renderer closed in another, which
      # cannot unbind it there: a context left current in a thread after it
      # was destroyed crashed or hung the next renderer made (4 of 6 runs of
      # 8 Fetch pixel envs loaded, stepped and closed; 0 of 7 with this).
      if self._gl_context is not None:
        release_gl_context(self._gl_context)

  def close(self):
    # mujoco 3.3's close releases the GL context first and then deletes the
    # MuJoCo context's GL objects in whichever context is current: another
    # renderer's in this process (two tasks, or a task's two renderers),
    # whose frames then turn to noise.
    gl_context = getattr(self, '_gl_context', None)
    mjr_context = getattr(self, '_mjr_context', None)
    if gl_context is not None and mjr_context is not None:
      gl_context.make_current()
      mjr_context.free()
    self._mjr_context = None  # also where __init__ failed before setting it
    super().close()

  def __del__(self):
    # mujoco's __del__ closes: GL calls at whatever moment the garbage
    # collector runs, possibly between another renderer's GL calls. A renderer
    # is closed by its task's close(); one never closed keeps its context
    # until the process ends.
    pass


def free_camera(settings):
  """A free camera (mujoco.MjvCamera) from a dict of lookat, distance, azimuth and elevation."""
  camera = mujoco.MjvCamera()
  camera.type = mujoco.mjtCamera.mjCAMERA_FREE
  camera.lookat[:] = settings['lookat']
  camera.distance = settings['distance']
  camera.azimuth = settings['azimuth']
  camera.elevation = settings['elevation']
  return camera


def agent_renderer(model, height, width):
  """A renderer of fast frames: no shadows, reflections, skybox or multisampling.

  Raises config.ConfigError where mujoco finds no OpenGL to render with.
  """
  quality = model.vis.quality
  saved = quality.offsamples, quality.shadowsize
  # The renderer sizes its buffers from these when it is made; the video
  # renderer, made from the same model, keeps the model's values.
  quality.offsamples, quality.shadowsize = 0, 0
  try:
    renderer = Renderer(model, height, width)
    for flag in AGENT_FRAME_FLAGS_OFF:
      renderer.scene.flags[flag] = 0
    renderer.render()  # a first frame: a missing GL shows here, not mid-episode
  except ValueError:
    raise  # a frame larger than the model's offscreen buffer (mujoco says so)
  except Exception as error:  # pylint: disable=broad-except
    # mujoco raises FatalError, RuntimeError or a PyOpenGL error, by backend.
    cause = str(error).strip().splitlines()[0] if str(error).strip() else ''
    raise config.ConfigError(
        f'pixel observations cannot render ({type(error).__name__}: {cause}); '
        f'{GL_HELP}.') from error
  finally:
    quality.offsamples, quality.shadowsize = saved
  return renderer


class TaskRenderers:
  """A task's renderers of one model: fast agent renderers by frame size and a video renderer."""

  def __init__(self, model):
    self._model = model
    self._agent = {}  # (height, width) -> renderer of agent frames
    self._video = None

  def agent(self, height, width):
    """The agent renderer (agent_renderer()) of HxW frames, made on first use."""
    renderer = self._agent.get((height, width))
    if renderer is None:
      renderer = agent_renderer(self._model, height, width)
      self._agent[(height, width)] = renderer
    return renderer

  def video(self, height, width):
    """The full-quality renderer (the model's own settings) for videos, made HxW on first use."""
    if self._video is None:
      self._video = Renderer(self._model, height, width)
    return self._video

  def close(self):
    """Closes every renderer made (agent ones first) and forgets them."""
    renderers = list(self._agent.values())
    if self._video is not None:
      renderers.append(self._video)
    for renderer in renderers:
      renderer.close()
    self._agent, self._video = {}, None
