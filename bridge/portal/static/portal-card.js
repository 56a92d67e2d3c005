/*
 * The portal's *Replace card* (Billing Bridge).
 *
 * The card goes to Stripe only: the bridge makes a SetupIntent, Stripe.js
 * confirms it with the card, and the bridge checks with Stripe that it
 * succeeded before the card becomes the one renewals are charged to.
 * Nothing is charged here. Each POST carries the page's CSRF token in the
 * X-CSRFToken header.
 */
(function () {
  "use strict";

  var root = document.getElementById("replace-card");
  if (!root || !root.dataset.publishableKey) {
    return;
  }
  var data = root.dataset;
  var form = document.getElementById("card-form");
  var button = document.getElementById("save-card-button");
  var message = document.getElementById("card-message");
  var stripe = null;
  var card = null;

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "pay-message" + (kind ? " pay-message-" + kind : "");
  }

  function busy(on) {
    button.disabled = on;
    button.textContent = on ? data.textSaving : data.textSave;
    root.setAttribute("aria-busy", on ? "true" : "false");
  }

  // The card field is made the first time the form is opened: a field made
  // inside a closed <details> has no size to lay itself out in.
  function mount() {
    if (card) {
      return true;
    }
    if (typeof window.Stripe !== "function") {
      say(data.textError, "error");
      button.disabled = true;
      return false;
    }
    stripe = window.Stripe(data.publishableKey, { locale: data.locale });
    card = stripe.elements().create("card", {
      style: { base: { fontSize: "16px", color: "#1f2937" } },
    });
    card.mount("#card-element");
    return true;
  }

  root.addEventListener("toggle", function () {
    if (root.open) {
      mount();
    }
  });
  if (root.open) {
    mount();
  }

  // POST JSON to the bridge; resolves with the answer, rejects with the
  // bridge's own message when it refuses.
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": data.csrfToken,
      },
      body: JSON.stringify(body || {}),
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (answer) {
          if (!response.ok) {
            var error = new Error((answer.error && answer.error.message) || data.textError);
            error.fromBridge = Boolean(answer.error);
            throw error;
          }
          return answer;
        });
    });
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (!mount()) {
      return;
    }
    busy(true);
    say("");
    try {
      var setup = await post(data.setupUrl, {});
      var confirmed;
      try {
        confirmed = await stripe.confirmCardSetup(setup.client_secret, {
          payment_method: { card: card },
        });
      } catch (error) {
        confirmed = { error: error };
      }
      if (!confirmed || confirmed.error || !confirmed.setupIntent) {
        var problem = (confirmed && confirmed.error) || {};
        var failure = new Error(problem.message || data.textError);
        failure.fromBridge = true;
        throw failure;
      }
      await post(data.saveUrl, { setup_intent_id: confirmed.setupIntent.id });
      window.location.assign(data.doneUrl);
    } catch (error) {
      say((error && error.fromBridge && error.message) || data.textError, "error");
      busy(false);
    }
  });
})();
