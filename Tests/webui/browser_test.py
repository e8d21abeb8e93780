#!/usr/bin/env python3
"""The web UI in a real headless Chromium (selenium + Debian's chromium-driver), as a person uses it:
log in with a token, see the pipelines, start a run from the pipeline page, watch the DAG's nodes
turn green, see a log line while its task still runs, cancel a run, look at the extensions.
Screenshots go to --screenshots (outside the repository). Prints `ok   …` per check; exits 1 on
the first failure, with the page's text."""
import argparse, json, os, sys, time, urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--screenshots", required=True)
parser.add_argument("--phase", choices=["main", "links"], default="main",
                    help="main: a person's session; links: the links Gofer sends out, opened from outside")
parser.add_argument("--release-file", help="(main) created once the running task was seen: it then ends")
parser.add_argument("--run-link", help="(links) a run's link as a commit status carried it")
parser.add_argument("--user-token", help="(links) a token of the user role in namespace default")
args = parser.parse_args()

options = webdriver.ChromeOptions()
for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"]:
    options.add_argument(flag)
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The console (network errors with their net::ERR_ code) is printed with a failure.
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
# The page re-renders as a run moves on: an element found a moment ago may be replaced before it
# is read. That is not a failure; the condition is looked at again.
wait = WebDriverWait(driver, 60, poll_frequency=0.1, ignored_exceptions=[NoSuchElementException, StaleElementReferenceException])
os.makedirs(args.screenshots, exist_ok=True)


def check(what, condition):
    try:
        wait.until(condition)
    except Exception as e:
        print(f"FAIL {what}: {type(e).__name__}\n--- page text ---\n{driver.find_element(By.TAG_NAME, 'body').text}", flush=True)
        try:
            console = "\n".join(f"{entry.get('level')} {entry.get('message')}" for entry in driver.get_log("browser"))
        except Exception as log_error:
            console = f"(cannot read it: {log_error})"
        print(f"--- browser console ---\n{console}", flush=True)
        driver.save_screenshot(os.path.join(args.screenshots, "failure.png"))
        driver.quit()
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def network_changed():
    """Whether Chromium gave up on what it was loading because the machine's network interfaces
    changed: its error page (at chrome-error://, saying ERR_NETWORK_CHANGED) or a resource that
    failed so (the console)."""
    try:
        if driver.current_url.startswith("chrome-error://"):
            return True
        text = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
        if "ERR_NETWORK_CHANGED" in text:
            return True
        return any("ERR_NETWORK_CHANGED" in str(entry.get("message")) for entry in driver.get_log("browser"))
    except Exception:
        return False


def load(url):
    """Opens `url`. Chromium aborts what is loading when the machine's network interfaces change
    (net::ERR_NETWORK_CHANGED: Docker adding a container's veth while other tests run), leaving its
    error page or a page without its script; such a page is reloaded after a moment (a reload adds
    no history entry, so Back still goes to the page before), up to eight times: the other tests'
    containers come and go in bursts. Only what this load logged counts: the console is drained
    first."""
    try:
        driver.get_log("browser")
    except Exception:
        pass
    driver.get(url)
    for attempt in range(8):
        if not network_changed():
            return
        print(f"note the browser saw the network change while loading {url} (attempt {attempt + 1}); reloading it", flush=True)
        time.sleep(0.5)
        driver.refresh()


def start_run(pipeline, task):
    """Clicks Start run. When the machine's network changes while the request is out
    (net::ERR_NETWORK_CHANGED, as in load()), the page says "Failed to fetch" — and the request may
    or may not have reached the server. The API says which: the run's page is opened if the run
    exists, else the pipeline's page is loaded again and Start run clicked once more (so the run is
    never started twice)."""
    try:
        driver.get_log("browser")
    except Exception:
        pass
    for attempt in range(4):
        driver.find_element(By.ID, "start-run").click()
        try:
            WebDriverWait(driver, 15, poll_frequency=0.1).until(
                EC.presence_of_element_located((By.CSS_SELECTOR, f'#dag g.node[data-task="{task}"]')))
            return
        except TimeoutException:
            if not network_changed():
                return  # the check that follows reports what the page shows
        request = urllib.request.Request(args.url + f"/api/namespaces/default/pipelines/{pipeline}/runs",
                                         headers={"Authorization": "Bearer " + args.token})
        with urllib.request.urlopen(request, timeout=10) as answer:
            runs = json.load(answer).get("items", [])
        print(f"note the browser saw the network change while starting the run (attempt {attempt + 1}); "
              f"the server has {len(runs)} run(s)", flush=True)
        if runs:
            load(args.url + f"/ui/namespaces/default/pipelines/{pipeline}/runs/" + str(runs[0]["id"]))
            return
        load(args.url + f"/ui/namespaces/default/pipelines/{pipeline}")


def shot(name):
    driver.save_screenshot(os.path.join(args.screenshots, name + ".png"))


def state_of(task):
    return driver.find_element(By.CSS_SELECTOR, f'#dag g.node[data-task="{task}"]').get_attribute("data-state")


def log_in(token):
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.ID, "login-button").click()


def links_phase():
    """A link from a commit status, opened by someone without a session: the login form, then that
    run; a task's log line; old and wrong addresses; what a user token is shown."""
    link = args.run_link
    load(link)
    check("a run link without a session shows the login form", EC.presence_of_element_located((By.ID, "login-form")))
    check("at the link's address", lambda d: d.current_url == link)
    log_in(args.token)
    check("after login the link's run opens", lambda d: d.find_element(By.CSS_SELECTOR, "h1").text.startswith("webui #1")
          and d.find_elements(By.CSS_SELECTOR, '#dag g.node[data-task="package"]'))
    check("the address is still the link", lambda d: d.current_url == link)
    check("the run page shows what its hooks did", lambda d: "gofer/webui: success" in d.find_element(By.ID, "hooks").text)
    shot("run-link")
    load(link + "/tasks/compile#L2")
    check("a task line link marks that line", lambda d: d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"] .line.marked').get_attribute("data-line") == "2"
          and "masked:" in d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"] .line.marked').text)
    check("and opens that task's log", lambda d: "focused" in d.find_element(By.ID, "task-compile").get_attribute("class"))
    driver.find_element(By.ID, "L-compile-3").click()
    check("clicking a line makes the address its link", lambda d: d.current_url == link + "/tasks/compile#L3")
    shot("task-line")
    load(link.rsplit("/", 1)[0] + "/999999")
    check("a run that does not exist says so", lambda d: "999999" in d.find_element(By.ID, "flash").text)
    load(link + "/tasks/nope")
    check("a task that does not exist says so", lambda d: "no task nope" in d.find_element(By.ID, "flash").text)
    load(args.url + "/ui/namespaces/default/pipelines/sleepy/runs/1")
    check("and a hook that had nothing to do says so", lambda d: "no commit to mark" in d.find_element(By.ID, "hooks").text)
    load(args.url + "/ui/no/such/page")
    check("an unknown page says so", lambda d: "No such page" in d.find_element(By.ID, "main").text)
    load(args.url + "/#/r/default/webui/1")
    check("an old #/r/ link opens the run at its path", lambda d: d.current_url == link and d.find_element(By.CSS_SELECTOR, "h1").text.startswith("webui #1"))
    driver.find_element(By.ID, "logout").click()
    check("logged out", EC.presence_of_element_located((By.ID, "login-form")))
    load(link)
    check("the link asks a new visitor to log in", EC.presence_of_element_located((By.ID, "login-form")))
    log_in(args.user_token)
    check("a user token opens the run link", lambda d: d.find_element(By.CSS_SELECTOR, "h1").text.startswith("webui #1"))
    check("and is not shown the Extensions link it cannot open", lambda d: not d.find_element(By.ID, "nav-extensions").is_displayed())


try:
    if args.phase == "links":
        links_phase()
        print("ok   all", flush=True)
        sys.exit(0)
    load(args.url + "/")
    check("the login form shows", EC.presence_of_element_located((By.ID, "login-form")))
    shot("login")
    # A wrong token is refused with the server's message, and no session starts.
    driver.find_element(By.ID, "token").send_keys("gofer_wrong")
    driver.find_element(By.ID, "login-button").click()
    check("a wrong token is refused", lambda d: not d.find_element(By.ID, "flash").get_attribute("hidden") and "token" in d.find_element(By.ID, "flash").text.lower())
    log_in(args.token)
    check("after login the pipelines are listed", EC.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-pipeline="webui"]')))
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies.get("gofer_session")
    check("the session cookie is HttpOnly and SameSite=Strict", lambda d: session and session["httpOnly"] and session.get("sameSite") == "Strict")
    check("the page's scripts cannot read the session cookie", lambda d: "gofer_session" not in d.execute_script("return document.cookie"))
    shot("pipelines")

    check("an admin sees the Extensions link", lambda d: d.find_element(By.ID, "nav-extensions").is_displayed())
    driver.find_element(By.CSS_SELECTOR, 'tr[data-pipeline="webui"] a').click()
    check("a pipeline has its own address", lambda d: d.current_url == args.url + "/ui/namespaces/default/pipelines/webui")
    check("the pipeline page lists its tasks", lambda d: "compile" in d.find_element(By.ID, "tasks").text and "test" in d.find_element(By.ID, "tasks").text)
    check("and nothing stray (null, undefined) on it", lambda d: not any(w in d.find_element(By.ID, "main").text.split() for w in ["null", "undefined", "NaN"]))
    shot("pipeline")
    start_run("webui", "compile")
    check("starting a run opens its page with the DAG", EC.presence_of_element_located((By.CSS_SELECTOR, '#dag g.node[data-task="compile"]')))
    check("at the run's own address", lambda d: d.current_url == args.url + "/ui/namespaces/default/pipelines/webui/runs/1")
    first_since = driver.find_element(By.ID, "run-since").text
    check("'started … ago' moves on while the page is open", lambda d: d.find_element(By.ID, "run-since").text != first_since)
    check("a running task shows how long it has run", lambda d: d.find_element(By.CSS_SELECTOR, '[data-took="compile"]').text.endswith("s"))
    check("a log line appears while its task still runs",
          lambda d: "compiling" in d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"]').text and state_of("compile") == "running")
    shot("run-live")
    open(args.release_file, "w").close()
    check("ANSI colours are rendered, not printed",
          lambda d: d.find_elements(By.CSS_SELECTOR, 'pre.log[data-task="compile"] span.ansi-fg-32') and "\x1b" not in d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"]').text)
    check("secrets are masked in the log", lambda d: "masked:" in d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"]').text
          and "s3cr3t-value" not in d.find_element(By.CSS_SELECTOR, 'pre.log[data-task="compile"]').text)
    check("every DAG node turns green", lambda d: all(state_of(t) == "succeeded" for t in ["compile", "test", "lint", "package"]))
    check("the run shows succeeded", lambda d: d.find_element(By.CSS_SELECTOR, "h1 .state").get_attribute("data-state") == "succeeded")
    check("the cancel button is gone once the run ended", lambda d: not d.find_element(By.ID, "cancel-run").is_displayed())
    check("every task shows how long it took", lambda d: all(d.find_element(By.CSS_SELECTOR, f'[data-took="{t}"]').text.endswith("s") for t in ["compile", "test", "lint", "package"]))
    shot("run-done")

    # Cancel: a run whose task sleeps; the button stops it.
    load(args.url + "/ui/namespaces/default/pipelines/sleepy")
    check("the second pipeline's page", EC.element_to_be_clickable((By.ID, "start-run")))
    start_run("sleepy", "nap")
    check("its task runs", lambda d: d.find_elements(By.CSS_SELECTOR, '#dag g.node[data-task="nap"]') and state_of("nap") == "running")
    # Cancelling asks first: saying no leaves the run alone.
    driver.find_element(By.ID, "cancel-run").click()
    check("cancelling asks first", EC.alert_is_present())
    check("naming the run", lambda d: "#1 of default/sleepy" in d.switch_to.alert.text)
    driver.switch_to.alert.dismiss()
    time.sleep(1.5)
    check("saying no leaves it running", lambda d: state_of("nap") == "running")
    driver.find_element(By.ID, "cancel-run").click()
    check("asked again", EC.alert_is_present())
    driver.switch_to.alert.accept()
    check("cancelling turns the node cancelled", lambda d: state_of("nap") == "cancelled")
    check("and the run cancelled", lambda d: d.find_element(By.CSS_SELECTOR, "h1 .state").get_attribute("data-state") == "cancelled")
    shot("run-cancelled")

    # An older fragment link still opens its page, at its path.
    load(args.url + "/#/extensions")
    check("the extensions page lists the scheduler", lambda d: "process" in d.find_element(By.ID, "extensions").text)
    check("an old #/ link moves to the page's path", lambda d: d.current_url == args.url + "/ui/extensions")
    driver.back()
    check("the browser's Back button goes to the page before", lambda d: d.current_url.endswith("/ui/namespaces/default/pipelines/sleepy/runs/1"))
    shot("extensions")

    driver.find_element(By.ID, "logout").click()
    check("logging out returns to the login form", EC.presence_of_element_located((By.ID, "login-form")))
    load(args.url + "/#/extensions")
    check("and the session is over", EC.presence_of_element_located((By.ID, "login-form")))
finally:
    driver.quit()
print("ok   all", flush=True)
