// The videos of the others: one tile per participant's camera and, while someone shares, a
// large tile with their screen (the faces then become small). Names and "microphone off" /
// "camera off" are written out, never shown by colour or icon alone.

export class Stage {
  constructor(element, alone, t) {
    this.element = element;
    this.alone = alone;
    this.t = t;
    this.tiles = new Map(); // "<id>/camera" or "<id>/screen" -> {figure, video, caption}
  }

  update(link) {
    this.#camera(link);
    this.#screen(link);
    this.#layout();
  }

  remove(id) {
    for (const kind of ["camera", "screen"]) {
      const tile = this.tiles.get(`${id}/${kind}`);
      if (tile) {
        tile.video.srcObject = null;
        tile.figure.remove();
        this.tiles.delete(`${id}/${kind}`);
      }
    }
    this.#layout();
  }

  clear() {
    for (const key of [...this.tiles.keys()]) this.remove(key.split("/")[0]);
  }

  sharing(link) {
    const stream = link.screenStream;
    return Boolean(
      link.media.screen && stream && stream.getVideoTracks().some((t) => t.readyState === "live" && !t.muted),
    );
  }

  #camera(link) {
    const tile = this.#tile(link.id, "camera", false);
    if (link.cameraStream && tile.video.srcObject !== link.cameraStream) {
      tile.video.srcObject = link.cameraStream;
      tile.video.play().catch(() => {});
    }
    tile.video.setAttribute("aria-label", this.t("camera_of", { name: link.name }));
    const badges = [];
    if (link.media.audio === false) badges.push(this.t("badge_microphone_off"));
    if (link.media.video === false) badges.push(this.t("badge_camera_off"));
    tile.name.textContent = link.name;
    tile.badges.textContent = badges.length ? `(${badges.join(", ")})` : "";
    tile.figure.classList.toggle("tile--camera-off", link.media.video === false);
  }

  #screen(link) {
    const key = `${link.id}/screen`;
    if (!this.sharing(link)) {
      const tile = this.tiles.get(key);
      if (tile) {
        tile.video.srcObject = null;
        tile.figure.remove();
        this.tiles.delete(key);
      }
      return;
    }
    const tile = this.#tile(link.id, "screen", true);
    if (tile.video.srcObject !== link.screenStream) {
      tile.video.srcObject = link.screenStream;
      tile.video.play().catch(() => {});
    }
    const label = this.t("screen_of", { name: link.name });
    tile.video.setAttribute("aria-label", label);
    tile.name.textContent = label;
  }

  #tile(id, kind, muted) {
    const key = `${id}/${kind}`;
    let tile = this.tiles.get(key);
    if (tile) return tile;
    const figure = document.createElement("figure");
    figure.className = `tile tile--${kind}`;
    figure.dataset.peer = id;
    figure.dataset.kind = kind;
    const video = document.createElement("video");
    video.className = "video";
    video.autoplay = true;
    video.playsInline = true;
    // The camera's video element also plays the voice; the screen has no sound.
    video.muted = muted;
    video.dataset.peer = id;
    video.dataset.kind = kind;
    const caption = document.createElement("figcaption");
    const name = document.createElement("span");
    name.className = "tile__name";
    const badges = document.createElement("span");
    badges.className = "tile__badges";
    caption.append(name, " ", badges);
    figure.append(video, caption);
    if (kind === "screen") this.element.prepend(figure);
    else this.element.append(figure);
    tile = { figure, video, name, badges };
    this.tiles.set(key, tile);
    return tile;
  }

  #layout() {
    const cameras = [...this.tiles.keys()].filter((k) => k.endsWith("/camera")).length;
    const screens = [...this.tiles.keys()].filter((k) => k.endsWith("/screen")).length;
    this.alone.hidden = cameras > 0;
    this.element.classList.toggle("stage--screen", screens > 0);
  }
}
